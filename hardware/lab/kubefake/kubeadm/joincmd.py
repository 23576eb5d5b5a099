"""The join command kubeadm prints (cmd/util/join.go's template)."""

from __future__ import annotations


def join_command(host_port: str, token: str, pins: list[str]) -> str:
    """`kubeadm join H --token T \\` newline, four spaces, one hash flag per CA, trailing space."""
    hashes = "".join(f"--discovery-token-ca-cert-hash {pin} " for pin in pins)
    return f"kubeadm join {host_port} --token {token} \\\n    {hashes}"


def one_line(command: str) -> str:
    """`token create --print-join-command`: backslash-newlines and tabs removed."""
    return command.replace("\\\n", "").replace("\t", "")


SUCCESS = """
Your Kubernetes control-plane has initialized successfully!

To start using your cluster, you need to run the following as a regular user:

  mkdir -p $HOME/.kube
  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config
  sudo chown $(id -u):$(id -g) $HOME/.kube/config

Alternatively, if you are the root user, you can run:

  export KUBECONFIG=/etc/kubernetes/admin.conf

You should now deploy a pod network to the cluster.
Run "kubectl apply -f [podnetwork].yaml" with one of the options listed at:
  https://kubernetes.io/docs/concepts/cluster-administration/addons/

Then you can join any number of worker nodes by running the following on each as root:

{join}
"""
"""kubeadm init's closing text (cmd/phases/init/showjoincommand.go), worker part."""
