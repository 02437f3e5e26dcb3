#!/usr/bin/python3
"""A small libtorrent driver for chunkswarm's interoperability tests.

Run it with Debian's /usr/bin/python3: the python3-libtorrent package lives in that interpreter's
dist-packages, and a python3 earlier on PATH may not see it.

  lt_peer.py make SRC OUT.torrent --piece-length N [--tracker URL]... [--sorted] [--hybrid]   prints the v1 infohash
  lt_peer.py info T.torrent                                             JSON: how libtorrent reads it
  lt_peer.py seed  --torrent T --save DIR [--listen 127.0.0.1:0] [--upload-limit B] [--connect IP:PORT]...
                   [--have-pieces N]   a partial seed: checks its data and wants only the first N pieces
  lt_peer.py leech --torrent T --save DIR [--listen 127.0.0.1:0] [--connect IP:PORT]...

seed/leech print one line per event, flushed at once so a test can wait for it:
  listening IP:PORT          the TCP listen socket is up
  ready                      the torrent is added and checked: peers may connect
  announced                  the first tracker reply arrived
  peer IP:PORT client=NAME ext=0|1 seed=0|1    a peer finished its handshake (again if renamed)
  alert KIND: MESSAGE        a peer, tracker or storage error, for the test's log
  finished                   (leech) every wanted byte is on disk and verified
  result {json}              the last line: bytes moved, whether it finished
Every session is bounded by --max-seconds; a leech exits once finished, a seed on SIGTERM/SIGINT.
Nothing here leaves loopback: DHT, local discovery, UPnP and NAT-PMP are off from construction,
before they could send a packet.
"""
import argparse
import json
import os
import signal
import sys
import time

import libtorrent as lt

# libtorrent's numeric values for its encryption settings (settings_pack enums).
PE_DISABLED = 2
PE_PLAINTEXT = 1


def loopback_settings(listen, upload_limit, partial=False):
    mask = (lt.alert.category_t.error_notification | lt.alert.category_t.peer_notification
            | lt.alert.category_t.status_notification | lt.alert.category_t.tracker_notification
            | lt.alert.category_t.connect_notification | lt.alert.category_t.storage_notification)
    return {
        'listen_interfaces': listen,
        # Off at construction: turned off later, the DHT would already have tried its bootstrap node.
        'enable_dht': False,
        'dht_bootstrap_nodes': '',
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        # Every peer in a test shares 127.0.0.1.
        'allow_multiple_connections_per_ip': True,
        # Plain BitTorrent over TCP, so the tests see the protocol chunkswarm speaks.
        'out_enc_policy': PE_DISABLED,
        'in_enc_policy': PE_DISABLED,
        'allowed_enc_level': PE_PLAINTEXT,
        'enable_incoming_utp': False,
        'enable_outgoing_utp': False,
        'upload_rate_limit': upload_limit,
        # A partial seed wants nothing more, so by default it would close connections to peers that have
        # nothing for it; a test keeps them to see what it tells others about them (ut_pex).
        'close_redundant_connections': not partial,
        'alert_mask': int(mask),
        'user_agent': 'libtorrent-interop/' + lt.__version__,
    }


def global_class_for_everyone(ses):
    # libtorrent files 127/8 and LAN ranges under its "local" class, which ignores rate limits;
    # map every IPv4 address to the global class so --upload-limit bites on loopback too.
    f = lt.ip_filter()
    f.add_rule('0.0.0.0', '255.255.255.255', 1 << lt.session.global_peer_class_id)
    ses.set_peer_class_filter(f)


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def sorted_files(src):
    # chunkswarm's order: UTF-8 bytes, component by component (Python compares lists that way).
    root = os.path.abspath(src)
    name = os.path.basename(root)
    found = []
    for d, _, names in os.walk(root):
        for n in names:
            full = os.path.join(d, n)
            rel = os.path.relpath(full, root).split(os.sep)
            found.append(([c.encode('utf-8', 'surrogateescape') for c in rel], rel, os.path.getsize(full)))
    found.sort(key=lambda f: f[0])
    return [('/'.join([name] + rel), size) for _, rel, size in found]


def cmd_make(a):
    fs = lt.file_storage()
    if a.sorted and os.path.isdir(a.src):
        for path, size in sorted_files(a.src):
            fs.add_file(path, size)
    else:
        lt.add_files(fs, a.src)
    # libtorrent's own default (no flag) is a hybrid v1+v2 torrent.
    flags = 0 if a.hybrid else lt.create_torrent.v1_only
    if a.canonical:
        flags |= lt.create_torrent.canonical_files
    t = lt.create_torrent(fs, a.piece_length, flags=flags)
    for url in a.tracker:
        t.add_tracker(url)
    lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(a.src)))
    data = lt.bencode(t.generate())
    with open(a.out, 'wb') as f:
        f.write(data)
    print(str(lt.torrent_info(a.out).info_hashes().v1))
    return 0


def cmd_info(a):
    ti = lt.torrent_info(a.torrent)
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            continue
        files.append({'path': fs.file_path(i).replace(os.sep, '/'), 'length': fs.file_size(i)})
    print(json.dumps({
        'infoHash': str(ti.info_hashes().v1),
        'name': ti.name(),
        'size': ti.total_size(),
        'pieceLength': ti.piece_length(),
        'pieces': ti.num_pieces(),
        'files': files,
        'trackers': [tr.url for tr in ti.trackers()],
    }))
    return 0


def endpoint(ip):
    host, port = ip
    return ('[%s]:%d' if ':' in host else '%s:%d') % (host, port)


def cmd_peer(a, seeding):
    stop = {'flag': False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__('flag', True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__('flag', True))

    partial = seeding and a.have_pieces is not None
    ses = lt.session(loopback_settings(a.listen, a.upload_limit, partial))
    global_class_for_everyone(ses)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(a.torrent)
    atp.save_path = a.save
    atp.flags &= ~lt.torrent_flags.auto_managed
    atp.flags &= ~lt.torrent_flags.paused
    if partial:
        # Checked, not trusted: the pieces past the first N are not on disk. Priority 0 keeps it from
        # fetching them, so it never has them to give.
        n = atp.ti.num_pieces()
        atp.piece_priorities = [4] * min(a.have_pieces, n) + [0] * max(0, n - a.have_pieces)
    elif seeding:
        # Trust the data: the test wrote it, and a hash pass would only slow the start.
        atp.flags |= lt.torrent_flags.seed_mode
    h = ses.add_torrent(atp)
    total = atp.ti.total_size()
    total_pieces = atp.ti.num_pieces()

    deadline = time.time() + a.max_seconds
    listening = False
    ready = False
    announced = False
    finished = False
    error = None
    seen = {}
    to_dial = list(a.connect)
    next_poll = 0.0
    while time.time() < deadline and not stop['flag']:
        ses.wait_for_alert(20)
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_succeeded_alert):
                if al.socket_type == lt.socket_type_t.tcp and not listening:
                    listening = True
                    say('listening %s' % endpoint((str(al.address), al.port)))
            elif isinstance(al, lt.listen_failed_alert):
                error = al.message()
                say('alert listen: ' + error)
            elif isinstance(al, lt.tracker_reply_alert):
                if not announced:
                    announced = True
                    say('announced')
            elif isinstance(al, lt.torrent_finished_alert):
                finished = True
            elif isinstance(al, (lt.torrent_error_alert, lt.file_error_alert)):
                error = al.message()
                say('alert storage: ' + error)
            elif isinstance(al, (lt.peer_disconnected_alert, lt.peer_error_alert, lt.tracker_error_alert,
                                 lt.hash_failed_alert, lt.peer_ban_alert)):
                say('alert %s: %s' % (type(al).__name__, al.message()))
        if listening and not ready:
            # Incoming connections for a torrent still being added are refused: wait for this.
            st = h.status()
            state = st.state
            # A partial seed checks its data first; libtorrent may show `downloading` before that check
            # begins, and the check closes every connection: wait until the check found its pieces.
            if partial:
                usable = state == lt.torrent_status.finished and st.num_pieces >= min(a.have_pieces, total_pieces)
            else:
                usable = state in (lt.torrent_status.downloading, lt.torrent_status.finished,
                                   lt.torrent_status.seeding)
            if usable:
                ready = True
                say('ready')
        if ready and to_dial:
            for spec in to_dial:
                ip, port = spec.rsplit(':', 1)
                h.connect_peer((ip.strip('[]'), int(port)), 0)
            to_dial = []
        # Also once finished, so a peer that delivered everything between two polls is still named.
        if time.time() >= next_poll or (finished and not seeding):
            # Often: a connection may live only a fraction of a second on loopback.
            next_poll = time.time() + 0.02
            for p in h.get_peer_info():
                key = endpoint(p.ip)
                if (p.flags & lt.peer_info.handshake) or (p.flags & lt.peer_info.connecting):
                    continue
                client = p.client.decode('utf-8', 'replace') if isinstance(p.client, bytes) else p.client
                ext = 1 if p.flags & lt.peer_info.supports_extensions else 0
                line = 'peer %s client=%s ext=%d seed=%d' % (key, json.dumps(client), ext,
                                                             1 if p.flags & lt.peer_info.seed else 0)
                # Printed again when it changes: the peer id names a client first, its BEP 10
                # handshake (`v`) may rename it, its bitfield may make it a seed a moment later.
                if seen.get(key) != line:
                    seen[key] = line
                    say(line)
        if finished and not seeding:
            say('finished')
            break
        if error:
            break

    st = h.status()
    say('result ' + json.dumps({
        'role': 'seed' if seeding else 'leech',
        'total': total,
        'done': st.total_wanted_done,
        'finished': bool(finished or st.is_seeding),
        'payloadUp': st.total_payload_upload,
        'payloadDown': st.total_payload_download,
        'error': error,
        'timedOut': time.time() >= deadline,
    }))
    # Pausing first keeps the teardown from waiting on a tracker's reply to event=stopped.
    ses.pause()
    del ses
    if error:
        return 1
    return 0 if seeding or finished else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    mk = sub.add_parser('make')
    mk.add_argument('src')
    mk.add_argument('out')
    mk.add_argument('--piece-length', type=int, required=True)
    mk.add_argument('--tracker', action='append', default=[])
    mk.add_argument('--canonical', action='store_true', help="libtorrent's canonical_files (adds pad files)")
    mk.add_argument('--sorted', action='store_true', help="add a folder's files in chunkswarm's order")
    mk.add_argument('--hybrid', action='store_true', help='v1+v2 hybrid, libtorrent\'s default, not v1 only')
    inf = sub.add_parser('info')
    inf.add_argument('torrent')
    for name in ('seed', 'leech'):
        p = sub.add_parser(name)
        p.add_argument('--torrent', required=True)
        p.add_argument('--save', required=True, help='libtorrent save_path: the folder that holds <name>')
        p.add_argument('--listen', default='127.0.0.1:0')
        p.add_argument('--connect', action='append', default=[], help='IP:PORT to dial (repeatable)')
        p.add_argument('--upload-limit', type=int, default=0, help='bytes/s; 0 means none')
        p.add_argument('--max-seconds', type=float, default=60.0)
        if name == 'seed':
            p.add_argument('--have-pieces', type=int, default=None,
                           help='hold and want only the first N pieces (the rest of the data may be absent)')
    a = ap.parse_args()
    if a.cmd == 'make':
        return cmd_make(a)
    if a.cmd == 'info':
        return cmd_info(a)
    return cmd_peer(a, a.cmd == 'seed')


if __name__ == '__main__':
    sys.exit(main())
