"""pathos's ParallelPool.close() and restart() set and clear the server's
_exiting flag: closed, the server refuses jobs; reopened, it takes them."""

import pp


def double(x):
    return 2 * x


server = pp.Server(2)
print(server.submit(double, (1,))(), server._exiting)
server._exiting = True
try:
    server.submit(double, (2,))
except pp.DestroyedServerError as exc:
    print("closed:", type(exc).__name__ + ":", exc)
server._exiting = False
print(server.submit(double, (3,))(), server._exiting)
server.destroy()
print("destroyed:", server._exiting)
