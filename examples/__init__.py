"""Example programs (not installed with the package).

This file makes ``examples`` a regular package, so that ``anyio-bridge serve
examples.flask_app:app`` run from the repository root imports this directory's
module rather than a namespace package of the same name found elsewhere.
"""
