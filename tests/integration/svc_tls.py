"""Certificates for the TLS tests, made by the openssl command in a temp dir:
a CA, a server certificate for 127.0.0.1 and localhost signed by it, a
client certificate signed by it, and a second CA that signed nothing the
servers show (to be refused). EC P-256 keys: quick to make."""
import os
import shutil
import subprocess
import tempfile


class Pki:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sss-pki-")
        self.ca, self.ca_key = self._ca("ca")
        self.other_ca, _ = self._ca("other-ca")
        self.server_cert, self.server_key = self._leaf(
            "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "extendedKeyUsage=serverAuth\n")
        self.client_cert, self.client_key = self._leaf("client", "extendedKeyUsage=clientAuth\n")

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _run(self, *args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)

    def _key(self, name):
        self._run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                  self._path(name + ".key"))
        return self._path(name + ".key")

    def _ca(self, name):
        key = self._key(name)
        self._run("req", "-x509", "-new", "-key", key, "-days", "2", "-subj",
                  f"/CN=sss test {name}", "-out", self._path(name + ".crt"))
        return self._path(name + ".crt"), key

    def _leaf(self, name, ext):
        key = self._key(name)
        with open(self._path(name + ".ext"), "w") as f:
            f.write(ext)
        self._run("req", "-new", "-key", key, "-subj", f"/CN=sss test {name}", "-out",
                  self._path(name + ".csr"))
        self._run("x509", "-req", "-in", self._path(name + ".csr"), "-CA", self.ca, "-CAkey",
                  self.ca_key, "-CAcreateserial", "-days", "2", "-extfile",
                  self._path(name + ".ext"), "-out", self._path(name + ".crt"))
        return self._path(name + ".crt"), key

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)
