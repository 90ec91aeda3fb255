-- The shell that watches one mock's nginx for the launcher
-- (coreplus.testing.launcher): nginx runs only as long as the process that
-- started it, and the instance's directory goes with it. Run as
-- `sh -c script sh PREFIX LOG NGINX ARGS...` with a pipe from the launcher on
-- its stdin; it writes "<nginx pid> <reader pid>" to PREFIX/master.pid.
--
-- It starts nginx in the foreground as its own child, then waits until its
-- reader (a subshell reading that pipe) ends, which happens when:
--  * mock:stop() kills the reader;
--  * the pipe reaches EOF: the kernel closes it when the launcher dies, by
--    SIGKILL too;
--  * the launcher is gone (the watchdog's parent changes), checked every
--    second: a child the launcher started with os.execute inherits the pipe
--    (Lua cannot open it close-on-exec) and would otherwise hold the EOF back
--    for as long as it lives. stop() kills the reader for the same reason: a
--    redis-server started by the same spec holds the pipe too.
-- nginx runs in a process group of its own (setsid), so that its workers
-- can be found and stopped even when the master is gone: a worker whose
-- master was KILLed keeps listening, and nothing else would end it.
-- Then it QUITs nginx, reaps it (a timer beside it KILLs nginx and its
-- workers after 5 s, and ends by itself once nginx is reaped), KILLs what
-- is left of nginx's group (the workers of a master that died), and removes
-- the prefix, unless a `keep` file says a failed attempt is to be retried in
-- the same prefix. A failed start is KILLed at once (an `abort` file): sh
-- starts background commands with QUIT ignored, and nginx installs its
-- handlers only once its configuration has loaded, so a QUIT would wait out
-- nginx's 2.5 s of retrying a taken port. It ignores the signals a terminal
-- or a pipe sends (SIGPIPE is why it exists; nginx, in a group of its own,
-- gets no Ctrl-C: it stops when the launcher does),
-- and holds none of the launcher's output: `lua demo.lua | head` must not
-- wait for it.
return { script = [[
prefix=$1; log=$2; shift 2
launcher=$PPID; main=$$
exec >/dev/null 2>&1
trap '' INT TERM HUP PIPE
trap 'gone=1' USR1
parent_of() {
  if [ -r "/proc/$1/stat" ]; then read -r _ _ _ p _ <"/proc/$1/stat" && echo "$p"
  else ps -o ppid= -p "$1" 2>/dev/null | tr -d ' '; fi
}
exec 3<&0 </dev/null
if command -v setsid >/dev/null 2>&1; then own_group=setsid; else own_group=; fi
$own_group "$@" -g 'daemon off;' 3<&- 2>"$log" &
master=$!
( while read -r _ <&3; do :; done ) &
reader=$!
exec 3<&-
echo "$master $reader" >"$prefix/master.pid.new" && mv "$prefix/master.pid.new" "$prefix/master.pid"
( [ "$(parent_of "$main")" = "$launcher" ] || exit 0
  while [ -d "$prefix" ] && [ "$(parent_of "$main")" = "$launcher" ]; do sleep 1; done
  while [ -d "$prefix" ] && kill -USR1 "$main" 2>/dev/null; do sleep 1; done ) &
wait "$reader"
kill -KILL "$reader" 2>/dev/null
if [ -e "$prefix/abort" ]; then kill -KILL "$master"; else kill -QUIT "$master"; fi 2>/dev/null
( i=0
  while kill -0 "$master" 2>/dev/null; do
    if [ "$i" -ge 250 ]; then kill -KILL -- "-$master" "$master" 2>/dev/null; break; fi
    sleep 0.02; i=$((i + 1))
  done ) &
timer=$!
wait "$master"
wait "$timer"
[ -z "$own_group" ] || kill -KILL -- "-$master" 2>/dev/null
[ -e "$prefix/keep" ] || rm -rf "$prefix"
]] }
