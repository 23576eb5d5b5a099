"""The project's tests: one importable package tree (helpers are `tests.support.*`, programs a
test runs in a namespace are modules run with `python -m tests....` from the checkout)."""
