// The IP helpers moved to shared/ (the DHT and ut_pex need them too, below the tracker's layer).
export { compactAddress, formatIp, normalizeIp, parseIp } from '../../shared/ip.js';
