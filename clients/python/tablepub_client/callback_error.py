"""The first exception of a sync engine's user callbacks, kept until the
driver's step is done (docs/design.md, "Exceptions from callbacks": the
same rule as the C++ library's CallbackError)."""


class CallbackError:
    """Calls callbacks for an engine (TableSync, TableSetSync). An exception
    a callback raises is kept, if it is the first since the last take(), and
    the engine goes on as if the callback had returned: the change counts
    as applied, and the failed callback is not called again for it. The
    driver (Subscriber, TableSetSubscriber) finishes its step and raises the
    kept exception, unchanged, from poll()."""

    def __init__(self):
        self.error = None

    def call(self, fn, *args):
        if fn is None:
            return
        try:
            fn(*args)
        except BaseException as e:  # noqa: BLE001 - KeyboardInterrupt too must not cut a step half way
            if self.error is None:
                self.error = e

    def failed(self):
        return self.error is not None

    def take(self):
        """The kept exception (None if none), forgotten."""
        e, self.error = self.error, None
        return e
