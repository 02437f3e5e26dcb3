#!/usr/bin/python3
"""libtorrent as a magnet-link leecher, for chunkswarm's BEP 9 interoperability tests.

Run it with Debian's /usr/bin/python3, whose dist-packages hold python3-libtorrent.

  lt_magnet.py --magnet URI --save DIR [--listen 127.0.0.1:0] [--connect IP:PORT]... [--max-seconds N]

It adds the magnet link (lt.parse_magnet_uri) and prints one line per event, flushed at once:
  listening IP:PORT       the TCP listen socket is up
  added                   the magnet is in the session (peers may be dialled now)
  metadata NAME SIZE      the info dictionary arrived from a peer and checked out (SIZE: torrent bytes)
  alert KIND: MESSAGE     a peer, tracker or storage error, for the test's log
  finished                every byte is on disk and verified
  result {json}           the last line
It exits once finished, or after --max-seconds. DHT, local discovery, UPnP and NAT-PMP are off from
construction, and only plain TCP is spoken, so nothing leaves loopback and the tests see our protocol.
"""
import argparse
import json
import os
import signal
import sys
import time

import libtorrent as lt

# The loopback-only session settings live with the interop driver; one copy for both.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'interop'))
from lt_peer import loopback_settings  # noqa: E402


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--magnet', required=True)
    ap.add_argument('--save', required=True)
    ap.add_argument('--listen', default='127.0.0.1:0')
    ap.add_argument('--connect', action='append', default=[])
    ap.add_argument('--max-seconds', type=float, default=60.0)
    a = ap.parse_args()

    stop = {'flag': False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__('flag', True))
    signal.signal(signal.SIGINT, lambda *_: stop.__setitem__('flag', True))

    ses = lt.session(loopback_settings(a.listen, 0))
    atp = lt.parse_magnet_uri(a.magnet)
    atp.save_path = a.save
    atp.flags &= ~lt.torrent_flags.auto_managed
    atp.flags &= ~lt.torrent_flags.paused
    h = ses.add_torrent(atp)
    say('added')
    for spec in a.connect:
        ip, port = spec.rsplit(':', 1)
        h.connect_peer((ip.strip('[]'), int(port)), 0)

    deadline = time.time() + a.max_seconds
    metadata = False
    finished = False
    error = None
    while time.time() < deadline and not stop['flag'] and not finished:
        ses.wait_for_alert(50)
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_succeeded_alert):
                if al.socket_type == lt.socket_type_t.tcp:
                    say('listening %s:%d' % (al.address, al.port))
            elif isinstance(al, lt.metadata_received_alert):
                metadata = True
                ti = h.torrent_file()
                say('metadata %s %d' % (ti.name(), ti.total_size()))
            elif isinstance(al, lt.metadata_failed_alert):
                say('alert metadata_failed: ' + al.message())
            elif isinstance(al, lt.torrent_finished_alert):
                # Only a torrent with its metadata can be finished in the sense the tests mean.
                finished = h.status().has_metadata
            elif isinstance(al, (lt.torrent_error_alert, lt.file_error_alert)):
                error = al.message()
                say('alert storage: ' + error)
            elif isinstance(al, (lt.peer_disconnected_alert, lt.peer_error_alert, lt.tracker_error_alert,
                                 lt.hash_failed_alert, lt.peer_ban_alert)):
                say('alert %s: %s' % (type(al).__name__, al.message()))
        if error:
            break
    if finished:
        say('finished')
    st = h.status()
    say('result ' + json.dumps({
        'metadata': metadata,
        'finished': finished,
        'done': st.total_wanted_done,
        'error': error,
        'timedOut': time.time() >= deadline,
    }))
    ses.pause()
    del ses
    return 0 if finished else 1


if __name__ == '__main__':
    sys.exit(main())
