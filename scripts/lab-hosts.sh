#!/usr/bin/env bash
# Lab and test hosts: systemd-nspawn machines on a private bridge (scripts/lab.sh and the role tests
# in tests/ansible use them).
#
#   lab-hosts.sh rootfs          build (or reuse) the Debian bookworm rootfs under $CACHE_DIR
#   lab-hosts.sh net-up          create the bridge 10.77.0.1/24
#   lab-hosts.sh up N            start N fresh hosts sp-h1..sp-hN: private 10.77.0.11.., "public" 10.77.0.111..
#                                with LAB_DATA_VOLUME_MB=SIZE, each host also gets a data volume: a sparse
#                                image file on a loop device, seen inside the host as /dev/sdf (the device
#                                name EC2 brokers get, kafka_data_volume_device) and under its own loop name
#                                (mount finds a filesystem by UUID through /proc/partitions, the hosts have no udev)
#   lab-hosts.sh down            stop every host and remove its namespace and overlay
#   lab-hosts.sh net-down        remove the bridge
#
# Every address used is one this script creates. State lives in $RUN_DIR.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
CACHE_DIR="${CACHE_DIR:-$REPO/.cache/ansible-hosts}"
RUN_DIR="${RUN_DIR:-/run/stockpipe-hosts}"
ROOTFS="$CACHE_DIR/rootfs"
BRIDGE="${BRIDGE:-spbr0}"
NET_PREFIX="${NET_PREFIX:-10.77.0}"
BRIDGE_ADDR="$NET_PREFIX.1"
# xfsprogs: the kafka role formats a broker's data volume XFS (LAB_DATA_VOLUME_MB below).
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,sudo,iproute2,procps,ca-certificates,acl,openjdk-17-jre-headless,python3-venv,xfsprogs"
# Changing the package list or the mirror rebuilds the rootfs.
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STAMP_VALUE="bookworm|$PACKAGES|$MIRROR|v1"

build_rootfs() {
  if [ -f "$ROOTFS/.stockpipe-stamp" ] && [ "$(cat "$ROOTFS/.stockpipe-stamp")" = "$STAMP_VALUE" ]; then
    echo "rootfs: reusing $ROOTFS"
    return 0
  fi
  rm -rf "$ROOTFS" "$ROOTFS.tmp"
  mkdir -p "$CACHE_DIR"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS.tmp" "$MIRROR" \
    >"$CACHE_DIR/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
  local r="$ROOTFS.tmp"
  : >"$r/etc/machine-id"
  rm -f "$r/var/lib/dbus/machine-id"
  # Hosts have no route to any registry: no apt sources, so nothing tries to reach one.
  : >"$r/etc/apt/sources.list"
  mkdir -p "$r/root/.ssh" && chmod 700 "$r/root/.ssh"
  cat >"$r/etc/ssh/sshd_config.d/stockpipe.conf" <<'CONF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
CONF
  # Network comes from the host builder (address set inside each namespace before boot).
  chroot "$r" systemctl mask systemd-networkd-wait-online.service getty@tty1.service \
    console-getty.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
  chroot "$r" systemctl enable ssh.service >/dev/null 2>&1
  rm -f "$r"/etc/ssh/ssh_host_*   # generated per host on first boot
  cat >"$r/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target
UNIT
  chroot "$r" systemctl enable ssh-hostkeys.service >/dev/null 2>&1
  echo "$STAMP_VALUE" >"$r/.stockpipe-stamp"
  mv "$r" "$ROOTFS"
  echo "rootfs: built $ROOTFS ($(du -sh "$ROOTFS" | cut -f1))"
}

host_ip() { echo "$NET_PREFIX.$((10 + $1))"; }
public_ip() { echo "$NET_PREFIX.$((110 + $1))"; }

net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
}

up() {
  local n="$1"
  [ -f "$ROOTFS/.stockpipe-stamp" ] || { echo "rootfs missing: run '$0 rootfs' first" >&2; exit 1; }
  mkdir -p "$RUN_DIR"
  [ -f "$RUN_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$RUN_DIR/id_ed25519"
  net_up
  : >"$RUN_DIR/inventory.ini.tmp"
  for i in $(seq 1 "$n"); do
    local name="sp-h$i" ip; ip="$(host_ip "$i")"
    local dir="$RUN_DIR/$name"
    mkdir -p "$dir/upper" "$dir/work" "$dir/root"
    mountpoint -q "$dir/root" || mount -t overlay overlay \
      -o "lowerdir=$ROOTFS,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
    mkdir -p "$dir/root/root/.ssh"
    cp "$RUN_DIR/id_ed25519.pub" "$dir/root/root/.ssh/authorized_keys"
    chmod 600 "$dir/root/root/.ssh/authorized_keys"
    echo "$name" >"$dir/root/etc/hostname"
    # Both addresses resolve without DNS (the hosts have no resolver): a broker's SASL login looks up its
    # own address's name, and a lookup that waits for an absent resolver stalls each login by 10 s.
    printf '127.0.0.1 localhost\n%s %s\n%s %s-public\n' "$ip" "$name" "$(public_ip "$i")" "$name" \
      >"$dir/root/etc/hosts"
    if [ ! -e "/run/netns/$name" ]; then
      ip netns add "$name"
      ip link add "ve-$name" type veth peer name eth0 netns "$name"
      ip link set "ve-$name" master "$BRIDGE" up
      ip -n "$name" addr add "$ip/24" dev eth0
      ip -n "$name" addr add "$(public_ip "$i")/24" dev eth0   # secondary: the advertised "public" address
      ip -n "$name" link set eth0 up
      ip -n "$name" link set lo up
      ip -n "$name" route add default via "$BRIDGE_ADDR"
    fi
    local volume=()
    if [ "${LAB_DATA_VOLUME_MB:-0}" -gt 0 ]; then
      if [ ! -f "$dir/loop" ] || ! losetup "$(cat "$dir/loop")" 2>/dev/null | grep -qF "$dir/data.img"; then
        truncate -s "${LAB_DATA_VOLUME_MB}M" "$dir/data.img"
        losetup -f --show "$dir/data.img" >"$dir/loop"
      fi
      volume=(--bind="$(cat "$dir/loop")" --bind="$(cat "$dir/loop"):/dev/sdf")
    fi
    if [ ! -f "$dir/pid" ] || ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      setsid systemd-nspawn -D "$dir/root" -M "$name" --register=no --keep-unit -b --console=pipe \
        --network-namespace-path="/run/netns/$name" "${volume[@]}" >"$dir/console.log" 2>&1 </dev/null &
      echo $! >"$dir/pid"
    fi
    echo "$name $ip $(public_ip "$i")" >>"$RUN_DIR/inventory.ini.tmp"
  done
  mv "$RUN_DIR/inventory.ini.tmp" "$RUN_DIR/hosts.txt"
  # Wait (with a deadline) until every host answers SSH.
  local deadline=$((SECONDS + 90))
  for i in $(seq 1 "$n"); do
    local ip; ip="$(host_ip "$i")"
    until ssh -i "$RUN_DIR/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o ConnectTimeout=2 -o LogLevel=ERROR "root@$ip" true 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then
        echo "host sp-h$i ($ip) did not answer SSH within 90 s; console:" >&2
        tail -n 20 "$RUN_DIR/sp-h$i/console.log" >&2
        exit 1
      fi
      sleep 0.5
    done
  done
  echo "hosts: $n up ($(host_ip 1)..$(host_ip "$n"))"
}

down() {
  [ -d "$RUN_DIR" ] || return 0
  # Stop every host at once (each shuts its services down in parallel), then wait with one deadline.
  local dir pid name deadline=$((SECONDS + 15))
  for dir in "$RUN_DIR"/sp-h*; do
    [ -f "$dir/pid" ] || continue
    pid="$(cat "$dir/pid")"
    kill -TERM "$pid" 2>/dev/null || true
  done
  for dir in "$RUN_DIR"/sp-h*; do
    [ -f "$dir/pid" ] || continue
    pid="$(cat "$dir/pid")"
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for dir in "$RUN_DIR"/sp-h*; do
    [ -d "$dir" ] || continue
    name="$(basename "$dir")"
    umount "$dir/root" 2>/dev/null || umount -l "$dir/root" 2>/dev/null || true
    [ ! -f "$dir/loop" ] || losetup -d "$(cat "$dir/loop")" 2>/dev/null || true
    ip link del "ve-$name" 2>/dev/null || true
    ip netns del "$name" 2>/dev/null || true
    rm -rf "$dir"
  done
  rm -f "$RUN_DIR/hosts.txt"
}

case "${1:-}" in
  rootfs) build_rootfs ;;
  net-up) net_up ;;
  up) up "${2:-3}" ;;
  down) down ;;
  net-down) down; ip link del "$BRIDGE" 2>/dev/null || true; rm -rf "$RUN_DIR" ;;
  *) echo "usage: $0 rootfs | net-up | up N | down | net-down" >&2; exit 2 ;;
esac
