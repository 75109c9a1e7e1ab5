"""Templates, groups and wait(group), and the job-count column of
print_stats()."""

import pp


def power(base, exponent):
    return base ** exponent


server = pp.Server(2)
squares = pp.Template(server, power, group="squares")
cubes = pp.Template(server, power, group="cubes")
a = [squares.submit(i, 2) for i in range(6)]
b = [cubes.submit(i, 3) for i in range(6)]
server.wait("squares")
print([t() for t in a])
server.wait("cubes")
print([t() for t in b])
server.wait()
server.print_stats()
server.destroy()
