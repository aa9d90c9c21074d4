"""Generates tablepub_pb2.py from the wire schema while building.

The schema is ../../proto/tablepub.proto (pip builds a local directory in
place), or the file named by TABLEPUB_PROTO. The generated module is
installed top-level as tablepub_pb2, the name the client imports; it is
never committed.
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.environ.get("TABLEPUB_PROTO",
                       os.path.join(HERE, "..", "..", "proto", "tablepub.proto"))


class BuildWithProto(build_py):
    def run(self):
        super().run()
        protoc = shutil.which("protoc")
        if protoc is None:
            raise SystemExit("tablepub-client: protoc not found (Debian: apt-get install protobuf-compiler)")
        if not os.path.isfile(PROTO):
            raise SystemExit(f"tablepub-client: wire schema not found: {PROTO} (set TABLEPUB_PROTO)")
        os.makedirs(self.build_lib, exist_ok=True)
        subprocess.run([protoc, "-I", os.path.dirname(os.path.abspath(PROTO)),
                        f"--python_out={self.build_lib}", os.path.abspath(PROTO)], check=True)


setup(cmdclass={"build_py": BuildWithProto})
