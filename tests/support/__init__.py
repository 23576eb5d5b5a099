"""What tests and benchmarks share: the namespace kit (`netns`), waiting (`wait`), paths,
the lab's test handles (`lab`) and its provisioning connector (`lab_connector`)."""
