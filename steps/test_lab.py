"""Binds every feature of the lab; the one place scenarios() is called."""

from pytest_bdd import scenarios

scenarios("../features")
