#!/usr/bin/python3
"""libtorrent's DHT (BEP 5) on loopback, for chunkswarm's DHT interoperability tests.

Run it with Debian's /usr/bin/python3 (python3-libtorrent lives in its dist-packages).

  lt_dht.py seed   --torrent T --save DIR --node IP:PORT... [--max-seconds N]
      seeds T (no tracker needed) and announces it into the DHT through the given nodes
  lookup --infohash HEX --node IP:PORT... [--want IP:PORT] [--max-seconds N]
      asks the DHT for the peers of HEX every two seconds until --want is among them (or time is up)
  fetch  --magnet URI --save DIR --node IP:PORT... [--max-seconds N]
      adds a magnet link (its peers found through the DHT alone) and downloads it; exits 0 once finished

Every line is flushed at once so a test can wait for it:
  listening IP:PORT     the TCP listen socket (and the DHT's UDP socket, same port) is up
  dht-nodes N           the routing table's size, when it changes
  peers IP:PORT,...     (lookup) the peers a dht_get_peers returned
  found IP:PORT         (lookup) --want was among them; the lookup exits 0
  peer IP:PORT          (fetch) a peer that sent us a block
  finished              (fetch) every byte is on disk and verified
  result {json}         the last line

The only nodes contacted are the --node ones: they are both the bootstrap list (given at construction,
so no default router is ever tried) and added to the routing table with add_dht_node, since libtorrent
never keeps its bootstrap nodes in its table. Local discovery, UPnP and NAT-PMP are off.
"""
import argparse
import json
import sys
import time

import libtorrent as lt

# libtorrent's numeric values for its encryption settings (settings_pack enums).
PE_DISABLED = 2
PE_PLAINTEXT = 1


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def dht_session(nodes):
    mask = (lt.alert.category_t.dht_notification | lt.alert.category_t.status_notification
            | lt.alert.category_t.error_notification | lt.alert.category_t.dht_operation_notification)
    return lt.session({
        'listen_interfaces': '127.0.0.1:0',
        'enable_dht': True,
        'dht_bootstrap_nodes': ','.join(nodes),
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        # Every node of a loopback DHT shares 127.0.0.1: libtorrent's defaults would keep one of them
        # and ignore the address after 50 packets in 10 s.
        'dht_restrict_routing_ips': False,
        'dht_restrict_search_ips': False,
        'dht_block_ratelimit': 100000,
        'dht_block_timeout': 5,
        'dht_announce_interval': 10,
        'allow_multiple_connections_per_ip': True,
        # Plain BitTorrent over TCP: chunkswarm speaks neither MSE nor uTP, and a first encrypted attempt
        # would only delay each connection.
        'out_enc_policy': PE_DISABLED,
        'in_enc_policy': PE_DISABLED,
        'allowed_enc_level': PE_PLAINTEXT,
        'enable_incoming_utp': False,
        'enable_outgoing_utp': False,
        'alert_mask': int(mask),
        'user_agent': 'libtorrent-dht-interop/' + lt.__version__,
    })


class TableSize:
    """Says `dht-nodes N` whenever a dht_stats_alert shows the routing table's size changed."""

    def __init__(self):
        self.last = -1

    def update(self, alert):
        n = sum(b['num_nodes'] for b in alert.routing_table)
        if n != self.last:
            self.last = n
            say('dht-nodes %d' % n)


def endpoint(text):
    host, port = text.rsplit(':', 1)
    return host, int(port)


def fetch(ses, a):
    ses.apply_settings({'alert_mask': ses.get_settings()['alert_mask']
                        | int(lt.alert.category_t.block_progress_notification)})
    atp = lt.parse_magnet_uri(a.magnet)
    atp.save_path = a.save
    atp.flags &= ~lt.torrent_flags.auto_managed
    atp.flags &= ~lt.torrent_flags.paused
    h = ses.add_torrent(atp)
    start = time.time()
    table = TableSize()
    finished = False
    senders = set()
    while time.time() - start < a.max_seconds and not finished:
        ses.post_dht_stats()
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.dht_stats_alert):
                table.update(alert)
            elif isinstance(alert, lt.block_finished_alert):
                # From the alert, not get_peer_info: on loopback the whole download can start and end
                # (and the seed be dropped) between two polls.
                key = '%s:%d' % tuple(alert.endpoint)
                if key not in senders:
                    senders.add(key)
                    say('peer ' + key)
            elif isinstance(alert, lt.torrent_finished_alert):
                finished = True
        time.sleep(0.1)
    st = h.status()
    if finished:
        say('finished')
    say('result ' + json.dumps({'finished': finished, 'done': st.total_wanted_done, 'total': st.total_wanted,
                                'senders': sorted(senders), 'nodes': table.last}))
    ses.pause()
    return 0 if finished else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('mode', choices=['seed', 'lookup', 'fetch'])
    ap.add_argument('--magnet')
    ap.add_argument('--torrent')
    ap.add_argument('--save')
    ap.add_argument('--infohash')
    ap.add_argument('--want')
    ap.add_argument('--node', action='append', default=[])
    ap.add_argument('--max-seconds', type=float, default=60)
    a = ap.parse_args()

    ses = dht_session(a.node)
    for n in a.node:
        ses.add_dht_node(endpoint(n))
    say('listening 127.0.0.1:%d' % ses.listen_port())

    if a.mode == 'fetch':
        return fetch(ses, a)
    if a.mode == 'seed':
        ti = lt.torrent_info(a.torrent)
        ses.add_torrent({'ti': ti, 'save_path': a.save, 'flags': lt.torrent_flags.seed_mode})
        target = None
    else:
        target = lt.sha1_hash(bytes.fromhex(a.infohash))

    start = time.time()
    table = TableSize()
    last_query = 0.0
    found = False
    seen = set()
    while time.time() - start < a.max_seconds and not found:
        ses.post_dht_stats()
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.dht_stats_alert):
                table.update(alert)
            elif isinstance(alert, lt.dht_get_peers_reply_alert):
                peers = ['%s:%d' % p for p in alert.peers()]
                seen.update(peers)
                say('peers ' + ','.join(peers))
                if a.want is not None and a.want in peers:
                    say('found ' + a.want)
                    found = True
        if target is not None and time.time() - last_query > 2:
            last_query = time.time()
            ses.dht_get_peers(target)
        time.sleep(0.1)
    say('result ' + json.dumps({'found': found, 'peers': sorted(seen), 'nodes': table.last}))
    return 0 if (found or a.mode == 'seed') else 1


if __name__ == '__main__':
    sys.exit(main())
