"""A node's CPU and memory, whole and per pod, for the agent's report.

`CgroupScanner` keeps the files of a changing set of cgroups open (the C set
from `native`, or its twin when the extension is missing) and reads them
all in one scan; cgroups removed between scans come back as gone and are
dropped. `UsageCollector` finds the pods (netd.agent.pod_cgroups) every
`rediscover_every` seconds, reads the node's own figures from /proc, and turns
CPU counters into rates with an explicit `now`. The parsers of /proc text are
pure and never raise: a figure they cannot read is None.
Standard library only (the node agent's payload).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from native.cgroup_stat import GONE, OK, UNLIMITED, CgroupFiles, Reading, cgroup_files
from netd.agent.pod_cgroups import (
    CgroupLayout,
    PodCgroup,
    directory_lister,
    find_pods,
    layout_from_mounts,
    stat_files,
)
from netd.agent.usage_report import PodUsage, Usage, UsageReport

V1_UNLIMITED = 1 << 62
"""cgroup v1 writes "no limit" as a huge number (LONG_MAX rounded down to a page)."""


@dataclass(frozen=True)
class CgroupSample:
    """The figures of one cgroup at one scan (None: not readable on this node)."""

    cpu_usec: int | None
    """CPU time used, microseconds."""
    memory_current: int | None
    """Memory in use, bytes."""
    memory_max: int | None
    """Memory limit, bytes; None when unlimited."""
    io_read_bytes: int | None
    """Bytes read from block devices."""
    io_write_bytes: int | None
    """Bytes written to block devices."""
    pids: int | None
    """Tasks in it."""


def sample_from(version: int, readings: dict[str, Reading]) -> CgroupSample:
    """A cgroup's sample from the readings of its files, by figure (netd.agent.pod_cgroups.FIGURES)."""

    def value(figure: str, index: int = 1) -> int | None:
        reading = readings.get(figure)
        return reading[index] if reading is not None and reading[0] == OK else None

    cpu = value("cpu")
    if cpu is not None and version == 1:
        cpu //= 1000  # cpuacct.usage counts nanoseconds
    limit = value("memory_max")
    if limit is not None and version == 1 and limit >= V1_UNLIMITED:
        limit = None
    max_reading = readings.get("memory_max")
    if max_reading is not None and max_reading[0] == UNLIMITED:
        limit = None
    return CgroupSample(
        cpu_usec=cpu,
        memory_current=value("memory_current"),
        memory_max=limit,
        io_read_bytes=value("io", 1),
        io_write_bytes=value("io", 2),
        pids=value("pids"),
    )


class CgroupScanner:
    """The files of a set of cgroups, kept open; `scan` reads them all at once."""

    def __init__(self, layout: CgroupLayout, files: CgroupFiles | None = None) -> None:
        self.layout = layout
        self.files = files if files is not None else cgroup_files()
        self._watched: dict[str, list[tuple[str, int]]] = {}

    @property
    def watched(self) -> list[str]:
        """Relative paths of the cgroups being watched."""
        return list(self._watched)

    def watch(self, relatives: Iterable[str]) -> None:
        """Watch exactly these cgroups: open the new ones' files, close the others'."""
        wanted = list(dict.fromkeys(relatives))
        dropped = [slot for rel in self._watched if rel not in wanted for _, slot in self._watched[rel]]
        self.files.close(dropped)
        self._watched = {rel: slots for rel, slots in self._watched.items() if rel in wanted}
        new = [rel for rel in wanted if rel not in self._watched]
        planned = [(rel, stat_files(self.layout, rel)) for rel in new]
        slots = self.files.open([file for _, figures in planned for _, file in figures])
        position = 0
        for rel, figures in planned:
            self._watched[rel] = [(figure, slots[position + i]) for i, (figure, _) in enumerate(figures)]
            position += len(figures)

    def scan(self) -> tuple[dict[str, CgroupSample], list[str]]:
        """(sample of each watched cgroup, cgroups gone since the last scan: no longer watched)."""
        readings = self.files.scan()
        samples: dict[str, CgroupSample] = {}
        gone = []
        for rel, slots in self._watched.items():
            mine = {figure: readings[slot] for figure, slot in slots}
            if any(reading[0] == GONE for reading in mine.values()):
                gone.append(rel)
            else:
                samples[rel] = sample_from(self.layout.version, mine)
        if gone:
            self.watch(rel for rel in self._watched if rel not in gone)
        return samples, gone


def parse_cpu_ticks(proc_stat: str) -> int | None:
    """Busy CPU time of all cores in USER_HZ ticks from /proc/stat (user, nice, system, irq,
    softirq, steal; guest time is inside user already)."""
    for line in proc_stat.splitlines():
        fields = line.split()
        if fields[:1] == ["cpu"] and len(fields) >= 9 and all(f.isdigit() for f in fields[1:9]):
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
            return user + nice + system + irq + softirq + steal
    return None


def parse_meminfo(meminfo: str) -> tuple[int, int] | None:
    """(total, available) bytes from /proc/meminfo."""
    found: dict[str, int] = {}
    for line in meminfo.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2] == "kB" and fields[1].isdigit():
            found[fields[0]] = int(fields[1]) * 1024
    if "MemTotal:" not in found or "MemAvailable:" not in found:
        return None
    return found["MemTotal:"], found["MemAvailable:"]


def parse_task_count(loadavg: str) -> int | None:
    """Tasks on the node from /proc/loadavg ("0.00 0.01 0.05 2/345 6789": 345)."""
    fields = loadavg.split()
    if len(fields) >= 4:
        running, slash, total = fields[3].partition("/")
        if slash and running.isdigit() and total.isdigit():
            return int(total)
    return None


@dataclass
class RateTracker:
    """CPU counters turned into millicores between two readings (explicit `now`)."""

    last: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Previous (counter, time) by name."""

    def rate(self, name: str, cpu_usec: int | None, now: float) -> int | None:
        """Millicores since the previous reading of `name`; None on the first one, after a reset
        (the counter went back: a new cgroup by the same name), or when the counter is unknown."""
        previous = self.last.pop(name, None)
        if cpu_usec is None:
            return None
        self.last[name] = (cpu_usec, now)
        if previous is None or now <= previous[1] or cpu_usec < previous[0]:
            return None
        return round((cpu_usec - previous[0]) / (now - previous[1]) / 1000)

    def keep_only(self, names: Iterable[str]) -> None:
        """Forget names no longer seen."""
        keep = set(names)
        self.last = {name: value for name, value in self.last.items() if name in keep}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class UsageCollector:
    """Collects a UsageReport each time it is asked."""

    def __init__(self, layout: CgroupLayout | None, files: CgroupFiles | None = None,
                 proc: Path = Path("/proc"), rediscover_every: float = 15.0) -> None:
        self.layout = layout
        self.scanner = CgroupScanner(layout, files) if layout is not None else None
        self.proc = proc
        self.rediscover_every = rediscover_every
        self.rates = RateTracker()
        self.pods: dict[str, PodCgroup] = {}
        self._discovered_at: float | None = None
        self._tick_usec = 1_000_000 // os.sysconf("SC_CLK_TCK")

    @classmethod
    def for_this_node(cls, mounts: Path = Path("/proc/mounts")) -> UsageCollector:
        """A collector over the hierarchies this machine has mounted."""
        return cls(layout_from_mounts(_read(mounts)))

    def discover(self, now: float) -> None:
        """Find the pods again and watch exactly their cgroups."""
        self._discovered_at = now
        if self.scanner is None or self.layout is None:
            return
        root = self.layout.walk_root()
        pods = find_pods(directory_lister(root)) if root is not None else []
        self.pods = {pod.path: pod for pod in pods}
        self.scanner.watch(self.pods)

    def collect(self, now: float) -> UsageReport:
        """The node's and its pods' usage now."""
        if self._discovered_at is None or now - self._discovered_at >= self.rediscover_every:
            self.discover(now)
        pods = []
        if self.scanner is not None:
            samples, gone = self.scanner.scan()
            for rel in gone:
                self.pods.pop(rel, None)
            for rel, sample in sorted(samples.items()):
                pod = self.pods[rel]
                usage = Usage(sample.cpu_usec, self.rates.rate(pod.uid, sample.cpu_usec, now),
                              sample.memory_current, sample.memory_max, sample.pids)
                pods.append(PodUsage(pod.uid, pod.qos, len(pod.containers), usage))
        ticks = parse_cpu_ticks(_read(self.proc / "stat"))
        cpu_usec = None if ticks is None else ticks * self._tick_usec
        memory = parse_meminfo(_read(self.proc / "meminfo"))
        node = Usage(
            cpu_usec=cpu_usec,
            cpu_millicores=self.rates.rate("", cpu_usec, now),
            memory_current=None if memory is None else memory[0] - memory[1],
            memory_max=None if memory is None else memory[0],
            pids=parse_task_count(_read(self.proc / "loadavg")),
        )
        self.rates.keep_only(["", *(pod.uid for pod in self.pods.values())])
        version = self.layout.version if self.layout is not None else 0
        return UsageReport(version, node, tuple(sorted(pods, key=lambda p: p.uid)))
