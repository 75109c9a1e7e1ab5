"""Server attributes that scripts and libraries read: the node lists as pp
keeps them, the secret, the logger, the pickle protocol, node tables."""

import pp


server = pp.Server(2, ppservers=("127.0.0.1:1", "localhost"), secret="s3cret",
                   socket_timeout=60, proto=3)
print(server.ppservers)
print(server.auto_ppservers, server.secret, server.socket_timeout)
print(pp.Server.default_port, pp.Server.default_secret)
print(server.pickle_proto, server.logger.name)
print(server.get_ncpus(), sorted(server.get_active_nodes()), sorted(server.get_stats()))
print(server.autopp_list)
stats = server.get_stats()["local"]
print(stats.ncpus, stats.njobs, stats.time, stats.rworker)
server.set_ncpus(1)
print(server.get_ncpus(), server.get_stats()["local"].ncpus)
server.destroy()
