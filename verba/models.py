from django.db import models


class ThrottleBucket(models.Model):
    """One client identity's token bucket, shared by every process and app server.

    Written only through verba/throttling.py's single-statement UPSERT. On PostgreSQL the
    table is UNLOGGED (migration 0002): no write-ahead log for a counter that is rewritten
    on every request; after a database crash it comes back empty, which only means every
    client starts with a full bucket once.
    """

    identity = models.CharField(max_length=100, primary_key=True)
    tokens = models.FloatField()
    # Unix seconds (the app servers' clocks) of the last refill.
    stamp = models.FloatField()
    # How many requests the last spend was granted (0: refused; more than one: a lease,
    # verba/throttling.py). On the way in, how many it asked for. The UPSERT returns it.
    granted = models.IntegerField(default=1)
    # No index on stamp: it changes on every request, and an index would make each UPSERT
    # a non-HOT update. The occasional prune scans this small table instead.

    def __str__(self) -> str:
        return self.identity
