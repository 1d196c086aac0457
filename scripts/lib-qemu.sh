# shellcheck shell=bash
# scripts/lib-qemu.sh - installs QEMU for the virt scripts (sourced after lib.sh).
#
# Debian 12 ships QEMU 7.2. Machines whose qemu-utils comes from bookworm-backports
# (QEMU 10) cannot install the 7.2 qemu-system-x86 beside it (qemu-utils Breaks
# qemu-system-common < 8.0), so there qemu-system-x86 is installed from
# bookworm-backports too, through a private apt configuration under the CI cache
# (the system's sources are not touched).

# ensure_qemu: qemu-system-x86_64 and qemu-img present.
ensure_qemu() {
  command -v qemu-system-x86_64 >/dev/null 2>&1 && command -v qemu-img >/dev/null 2>&1 && return 0
  local utils
  utils=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
  if [[ "$utils" == *bpo12* ]]; then
    local d="$RUSTACK_CI_CACHE/apt-bpo"
    mkdir -p "$d/lists/partial" "$d/archives/partial"
    cat > "$d/sources.list" <<EOS
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
deb http://deb.debian.org/debian bookworm-backports main
EOS
    local opts=(-o "Dir::Etc::sourcelist=$d/sources.list" -o Dir::Etc::sourceparts=-
      -o "Dir::State::lists=$d/lists" -o "Dir::Cache::archives=$d/archives")
    say "installing qemu-system-x86 from bookworm-backports (qemu-utils is $utils)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y -q \
      --no-install-recommends -t bookworm-backports qemu-system-x86
  else
    apt_install qemu-system-x86 qemu-utils
  fi
}
