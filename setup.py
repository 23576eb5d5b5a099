"""setuptools shim: cffi_modules can only be passed through setup()."""

from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"])
