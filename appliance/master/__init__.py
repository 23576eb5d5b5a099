"""The master daemon: netd's services, the provisioning runner, the agent API and the web page in one process."""
