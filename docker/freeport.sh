#!/usr/bin/env bash
# Prints a TCP port on 127.0.0.1 that nothing listens on now, below the kernel's ephemeral range
# (where outgoing connections take their local ports, so one could take it before the service
# that is told to use it binds it).
python3 - <<'PY' 2>/dev/null || shuf -i 20000-32000 -n 1
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    low = 32768
low = low if low > 11000 else 32768
for _ in range(1000):
    port = random.randrange(10000, low)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit(1)
PY
