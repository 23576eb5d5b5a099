"""Packaging the fake: .deb files, the signed apt repositories, the Debian packages beside them (host side)."""
