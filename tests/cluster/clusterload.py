"""Mixed load over several web hosts (issue 15): tests/integration's
loadmix clients, but each request goes to the next host in turn, so that
a chain's consecutive refreshes are answered by different hosts (and by
whichever of PgBouncer's server connections is free), and a client may
log in afresh every few rounds (a new session) while it runs. Bounded in
count and time as loadmix is. Every refresh token a server handed out
(by login or by a refresh answered 200) is kept: the failover test looks
each one up on the new primary."""

from latchlib import Client
from loadmix import LoadMix, MixClient


class HostClient(MixClient):
    """One user's client over every host of base_urls; its first request
    goes to host index % len(base_urls)."""

    def __init__(self, index, base_urls, user, relogin_every=0):
        super().__init__(index, base_urls[0], user)
        self.hosts = [Client(u) for u in base_urls]
        self.turn = index
        self.relogin_every = relogin_every
        self.rounds = 0
        self.issued = []        # every refresh token given to this client
        self.host_of = []       # host index of each of self.answers

    def _call(self, kind, fn):
        host = self.turn % len(self.hosts)
        self.turn += 1
        self.client = self.hosts[host]
        resp = super()._call(kind, fn)
        self.host_of.append(host)
        return resp

    def login(self):
        resp = super().login()
        if resp is not None and resp.status_code == 200:
            self.issued.append(self.token)
        return resp

    def refresh(self):
        before = self.token
        resp = super().refresh()
        if resp is not None and resp.status_code == 200:
            assert self.token != before, \
                f"client {self.index}: a refresh answered its own token"
            self.issued.append(self.token)
        return resp

    def step(self):
        """A login while it holds nothing, or every relogin_every rounds
        (a new session: the old one is left as it is); else profile and
        refresh."""
        self.rounds += 1
        if self.token is None or (self.relogin_every and
                                  self.rounds % self.relogin_every == 0):
            self.login()
            return
        self.profile()
        self.refresh()

    def last(self, kind):
        """The last answer of kind (login, refresh, profile), or None."""
        for a in reversed(self.answers):
            if a.kind == kind:
                return a
        return None


class HostLoad(LoadMix):
    """HostClients for users over base_urls, in threads, until stop() or
    seconds."""

    def __init__(self, base_urls, users, seconds=60.0, relogin_every=0):
        super().__init__(base_urls[0], [], seconds)
        self.clients = [HostClient(i, base_urls, u, relogin_every)
                        for i, u in enumerate(users)]
