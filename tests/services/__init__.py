"""Real services for integration tests: a second libvirt host, an sshd on loopback, a delaying
TCP relay and a Secret Service. Helpers and fixtures only (no tests); see README.md."""
