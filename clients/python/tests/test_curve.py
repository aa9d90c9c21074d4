"""CURVE key files (no relay): the rules the relay and tablepub-tail apply."""

import os
import tempfile
import unittest

import zmq

from tablepub_client.curve import (KeyFileError, is_z85_key, load_client_curve,
                                   load_public_key, load_secret_key)


@unittest.skipUnless(zmq.has("curve"), "libzmq without CURVE")
class CurveKeyFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.public, self.secret = zmq.curve_keypair()

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="ascii") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_certificate_and_bare_formats(self):
        cert = self.write("me.key_secret", 'metadata\ncurve\n    public-key = "%s"\n    secret-key = "%s"\n'
                          % (self.public.decode(), self.secret.decode()))
        self.assertEqual(load_secret_key(cert), (self.public, self.secret))
        self.assertEqual(load_secret_key(self.write("bare", self.secret.decode() + "\n")),
                         (self.public, self.secret))
        self.assertEqual(load_public_key(self.write("relay.key", 'public-key = "%s"\n' % self.public.decode(),
                                                    0o644)), self.public)
        self.assertTrue(is_z85_key(self.public.decode()))
        self.assertFalse(is_z85_key("x" * 39))

    def test_refusals(self):
        with self.assertRaisesRegex(KeyFileError, "group or world access"):
            load_secret_key(self.write("open", self.secret.decode(), 0o644))
        with self.assertRaisesRegex(KeyFileError, "cannot open"):
            load_secret_key(os.path.join(self.dir.name, "missing"))
        with self.assertRaisesRegex(KeyFileError, "not a Z85 key"):
            load_secret_key(self.write("junk", "hello\n"))
        with self.assertRaisesRegex(KeyFileError, "holds a secret key"):
            load_public_key(self.write("s.key", 'secret-key = "%s"\n' % self.secret.decode(), 0o644))
        other_public, _ = zmq.curve_keypair()
        with self.assertRaisesRegex(KeyFileError, "does not belong"):
            load_secret_key(self.write("mixed", 'public-key = "%s"\nsecret-key = "%s"\n'
                                       % (other_public.decode(), self.secret.decode())))
        with self.assertRaisesRegex(KeyFileError, "both"):
            load_client_curve("relay.key", None)
        self.assertIsNone(load_client_curve(None, None))


if __name__ == "__main__":
    unittest.main()
