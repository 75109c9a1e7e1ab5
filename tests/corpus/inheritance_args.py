"""Instances of user classes as arguments (their class hierarchy ships with
the job) and bound methods as the job's function."""

import pp


class Account:
    rate = 0.1

    def __init__(self, owner, balance):
        self.owner, self.balance = owner, balance

    def interest(self, years):
        return round(self.balance * ((1 + self.rate) ** years - 1), 2)


class Savings(Account):
    rate = 0.25

    def describe(self):
        return "%s has %s" % (self.owner, self.balance)


def total(accounts):
    return sum(a.balance for a in accounts)


def richer(account, amount):
    account.balance += amount
    return account


server = pp.Server(2)
accounts = [Savings("ann", 100), Account("bob", 50)]
print(server.submit(total, (accounts,))())
print(server.submit(accounts[0].interest, (2,))())
print(server.submit(accounts[0].describe)())
back = server.submit(richer, (accounts[1], 5))()
print(type(back).__name__, back.owner, back.balance)
server.destroy()
