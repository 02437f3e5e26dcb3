#!/usr/bin/python3
"""A libtorrent peer for `npm run bench`: one session, one torrent, loopback only.

Run it with Debian's /usr/bin/python3 (python3-libtorrent is installed in its dist-packages; another
python3 earlier on PATH usually cannot import it).

    lt_peer.py --torrent T --save DIR --listen 127.0.0.1:0 --seed [--super-seed]
    lt_peer.py --torrent T --save DIR --listen 127.0.0.1:0 --connect 127.0.0.1:PORT --exit-on-finish

It reports on stdout, one JSON object per line, so the harness can follow it without parsing prose:
    {"event": "listening", "host": ..., "port": ...}   once the TCP listen socket is up
    {"event": "finished", "t": epoch}                   when the last wanted piece is verified
    {"event": "exit", ...}                              totals, rates and this process's CPU seconds
Every wait is bounded by --max-seconds; SIGTERM/SIGINT end it cleanly with the "exit" line.
"""
import argparse
import json
import os
import resource
import signal
import sys
import time

import libtorrent as lt


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def loopback_settings(listen, upload_limit):
    """Settings given at construction, so nothing ever leaves the machine.

    DHT, local service discovery, UPnP and NAT-PMP are off before the session starts: switching
    DHT off afterwards is too late, it has already contacted its bootstrap node. TCP only, plain
    BitTorrent (no RC4), and several peers on one IP, since every peer here is 127.0.0.1.
    """
    return {
        'listen_interfaces': listen,
        'enable_dht': False,
        'dht_bootstrap_nodes': '',
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'enable_incoming_utp': False,
        'enable_outgoing_utp': False,
        'allow_multiple_connections_per_ip': True,
        'out_enc_policy': int(lt.enc_policy.pe_disabled),
        'in_enc_policy': int(lt.enc_policy.pe_enabled),
        'allowed_enc_level': int(lt.enc_level.pe_plaintext),
        'upload_rate_limit': int(upload_limit),
        # a limit counts payload and protocol bytes, not TCP/IP headers, like chunkswarm's
        'rate_limit_ip_overhead': False,
        'stop_tracker_timeout': 1,
        'alert_mask': int(lt.alert_category.status | lt.alert_category.error | lt.alert_category.storage),
    }


def rate_limits_apply_to_loopback(ses):
    """libtorrent files 127/8 under its "local" peer class, which skips the global rate limit.
    Filing every address under the global class makes --upload-limit bite between loopback peers."""
    flt = lt.ip_filter()
    everyone = 1 << lt.session.global_peer_class_id
    flt.add_rule('0.0.0.0', '255.255.255.255', everyone)
    flt.add_rule('::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', everyone)
    ses.set_peer_class_filter(flt)


def own_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def parse_addr(spec):
    host, _, port = spec.rpartition(':')
    return host.strip('[]'), int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--torrent', required=True)
    ap.add_argument('--save', required=True, help='folder that holds (seed) or receives the content')
    ap.add_argument('--listen', default='127.0.0.1:0', help='HOST:PORT, port 0 for any free one')
    ap.add_argument('--seed', action='store_true',
                    help='trust the data as complete (seed_mode: no hash pass at start, each piece is '
                         'hashed the first time a peer asks for it)')
    ap.add_argument('--super-seed', action='store_true',
                    help="with --seed: libtorrent's super-seeding (BEP 16), each peer is offered one "
                         'piece at a time, so the seed sends every piece about once')
    ap.add_argument('--connect', action='append', default=[], help='HOST:PORT to dial (repeatable)')
    ap.add_argument('--peers-file', help='dial every HOST:PORT line that appears in this file')
    ap.add_argument('--upload-limit', type=int, default=0, help='bytes per second, 0 for none')
    ap.add_argument('--use-trackers', action='store_true',
                    help="announce to the torrent's trackers (by default peers only meet by --connect)")
    ap.add_argument('--exit-on-finish', action='store_true')
    ap.add_argument('--max-seconds', type=float, default=300.0)
    args = ap.parse_args()
    if args.super_seed and not args.seed:
        ap.error('--super-seed needs --seed')

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))

    host = parse_addr(args.listen)[0]
    ses = lt.session(loopback_settings(args.listen, args.upload_limit))
    if args.upload_limit > 0:
        rate_limits_apply_to_loopback(ses)

    info = lt.torrent_info(args.torrent)
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = args.save
    # Added paused so the trackers can be dropped before the torrent starts and announces.
    params.flags |= lt.torrent_flags.paused
    params.flags &= ~lt.torrent_flags.auto_managed
    if args.seed:
        params.flags |= lt.torrent_flags.seed_mode
    if args.super_seed:
        params.flags |= lt.torrent_flags.super_seeding
    started = time.time()
    handle = ses.add_torrent(params)
    if not args.use_trackers:
        handle.replace_trackers([])
    handle.resume()

    deadline = started + args.max_seconds
    port = None
    pending = list(args.connect)
    dialled = set()
    finished_at = None
    error = None

    while not stopping and time.time() < deadline:
        ses.wait_for_alert(25)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.listen_succeeded_alert) and alert.socket_type == lt.socket_type_t.tcp:
                if port is None:
                    port = alert.port
                    emit({'event': 'listening', 'host': host, 'port': port})
            elif isinstance(alert, lt.torrent_finished_alert) and not args.seed and finished_at is None:
                finished_at = time.time()
                emit({'event': 'finished', 't': finished_at, 'elapsed_s': finished_at - started})
            elif isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
                error = alert.message()
        if error:
            break
        if port is None:
            continue
        if args.peers_file and os.path.exists(args.peers_file):
            with open(args.peers_file) as f:
                pending.extend(line.strip() for line in f if line.strip())
        for spec in pending:
            addr = parse_addr(spec)
            if addr not in dialled and addr != (host, port):
                dialled.add(addr)
                handle.connect_peer(addr, 0)
        pending = []
        if args.exit_on_finish and finished_at is not None:
            break

    status = handle.status()
    total = info.total_size()
    done = finished_at is not None or status.is_seeding
    emit({
        'event': 'exit',
        'role': 'seed' if args.seed else 'leech',
        'super_seeding': bool(handle.flags() & lt.torrent_flags.super_seeding),
        'total_bytes': total,
        'done_bytes': status.total_wanted_done,
        'finished': done,
        'elapsed_s': (finished_at or time.time()) - started,
        'mbps': total / 1e6 / (finished_at - started) if finished_at else None,
        'payload_up': status.total_payload_upload,
        'payload_down': status.total_payload_download,
        'cpu_s': own_cpu_seconds(),
        'error': error,
        'timed_out': not stopping and time.time() >= deadline,
    })
    ses.pause()
    del ses
    if error or (not args.seed and not done):
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
