"""pathos's ParallelPool, every map and pipe: run on pathos with
uqfoundation's ppft and on pathos with ppgo, and compared."""

from pathos.pools import ParallelPool


def cube(x):
    return x ** 3


def add(x, y):
    return x + y


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def norm1(point):
    return abs(point.x) + abs(point.y)


if __name__ == "__main__":
    pool = ParallelPool(nodes=2)
    print("map", pool.map(cube, range(10)))
    print("map2", pool.map(add, range(5), range(5, 10)))
    print("imap", list(pool.imap(cube, range(6))))
    print("uimap", sorted(pool.uimap(cube, range(6))))
    result = pool.amap(add, [1, 2, 3], [4, 5, 6])
    print("amap", result.get(), result.ready(), result.successful())
    async_result = pool.apipe(cube, 7)
    print("apipe", async_result.get(), async_result.ready(), async_result.successful())
    print("pipe", pool.pipe(add, 2, 3))
    print("objects", pool.map(norm1, [Point(1, -2), Point(-3, 4)]))
    print("ncpus", pool.ncpus, pool.nodes, pool.servers)
    pool.close()
    try:
        pool.map(cube, [1])
    except ValueError as exc:
        print("closed:", exc)
    pool.restart()
    print("restarted", pool.map(cube, [2, 3]))
    pool.close()
    pool.join()
    pool.clear()
    print("done")
