# Whether the process a pid file names still runs. Sourced by scripts/up, scripts/down
# and scripts/monitor.

# True when PIDFILE names a live process whose command line has PATTERN. kill -0 alone
# is not enough: right after a kill -9, the process stays a zombie until someone reaps
# it (kill -0 still finds it), and a pid can be reused by another program after a
# reboot or a long time.
named_alive() {
    local pid state cmdline
    pid=$(cat "$1" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    state=$(awk '$1 == "State:" { print $2 }' "/proc/$pid/status" 2>/dev/null) || return 1
    case $state in ''|Z|X) return 1 ;; esac
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline == *"$2"* ]]
}

# True when PIDFILE names a live `ringbridge serve`.
ringbridge_alive() { named_alive "$1" "ringbridge serve"; }
