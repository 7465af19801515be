"""The Business API's `status=next` long poll: waiting for the next call on a number
without holding a database connection, one watcher per process (longpoll.watcher)."""
