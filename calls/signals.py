"""What the calls domain tells the rooms above it, so that it never imports them.

- `call_written(call=...)`: sent after the transaction that wrote a call has committed
  (calls.services). The long poll (longpoll.watcher) listens, to release the waiters in
  this process at once; waiters elsewhere find the call by their watcher's own look.
"""

from django.dispatch import Signal

call_written = Signal()
