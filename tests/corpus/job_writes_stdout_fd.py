"""A job that writes to file descriptor 1 itself (a C library, a
subprocess, os.write), as scientific code does."""

import pp


def noisy_double(x):
    import os
    os.write(1, b"a line a C library printed\n")
    return x * 2


server = pp.Server(1)
print([server.submit(noisy_double, (i,))() for i in range(3)])
server.destroy()
