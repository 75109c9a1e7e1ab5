"""A job whose worker process dies under it once (the OOM killer, a crash
in a C extension), then succeeds when run again."""

import os

import pp


def dies_the_first_time(marker, value):
    import os
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    return value


marker = os.path.join(os.getcwd(), "died-once")
server = pp.Server(1)
print(server.submit(dies_the_first_time, (marker, 42))())
print(server.submit(dies_the_first_time, (marker, 43))())
server.destroy()
