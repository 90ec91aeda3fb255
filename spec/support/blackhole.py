# A TCP peer on 127.0.0.1 that never completes a handshake: it listens with a
# backlog of 0 and fills the queue itself, so further SYNs go unanswered and a
# client's connect can only time out. Prints its port, then sleeps argv[1] s.
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
port = s.getsockname()[1]
fillers = []
for i in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    fillers.append(c)
print(port, flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 20)
