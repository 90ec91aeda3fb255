# The benchmarks' pictures, drawn by `make bench` (bench/run.lua) from the
# .dat files the benchmarks write next to this file:
#   gnuplot -e "dir='bench'" bench/plots.gp
# arrivals.png       bulk paging: arrivals per 100 ms at the mock, lua-coreplus
#                    each{} against the plain-Lua peer (bulk_paging.dat)
# cross_process.png  4 processes, one limit: a shared file against private
#                    limiters (cross_process.dat)
# multi_tenant.png   one process driving N practices: CPU per wall second of
#                    the client and of the mock (multi_tenant.dat)
# redis_fleet.png    N processes x M practices through one Redis while a
#                    Cluster master, then the Sentinel master, is killed
#                    (redis_fleet.dat)
if (!exists("dir")) dir = "bench"

set terminal pngcairo size 900,520 font "DejaVu Sans,10" noenhanced
set encoding utf8
set grid ytics lc rgb "#dddddd"
set border 3
set tics nomirror
set key top right box opaque

ours = "#1f6fb2"
plain = "#d9822b"
refused = "#c0392b"

# ===== bulk paging: arrivals per 100 ms =====
f = dir . "/bulk_paging.dat"
set xrange [*:*]
set yrange [*:*]
stats f using ($2 > 0 ? $1 : NaN) name "OURS" nooutput
stats f using ($3 > 0 ? $1 : NaN) name "PLAIN" nooutput
set output dir . "/arrivals.png"
set multiplot layout 2,1 title "Bulk paging: 50 pages of 100 clients, mock latency 300 ms, limit 10 per second\nbars: requests arriving at the mock per 100 ms; line: pages arrived so far (right axis)"
set xrange [0:ceil(PLAIN_max) + 1]
set yrange [0:6]
set ytics 0,1,6
set y2range [0:55]
set y2tics 0,10,50
set ylabel "arrivals / 100 ms"
set y2label "pages so far"
set style fill solid 0.85 noborder
set boxwidth 0.08
set key at graph 0.98, graph 0.35 right box opaque
set label 1 sprintf("lua-coreplus: all 50 requests arrived by %.1f s", OURS_max + 0.1) at graph 0.98, graph 0.6 right font ",11"
plot f using ($1 + 0.05):2 with boxes lc rgb ours title "cp.clients:each{} (4 in flight, 10/s)", \
     f using 1:2 axes x1y2 smooth cumulative with lines lw 2 lc rgb ours notitle
unset label 1
set xlabel "seconds from the first request"
set key default
set key inside top left box opaque
set label 1 sprintf("plain Lua: all 50 requests arrived by %.1f s", PLAIN_max + 0.1) at graph 0.98, graph 0.45 right font ",11"
plot f using ($1 + 0.05):3 with boxes lc rgb plain title "LuaSec + LuaSocket + luaossl + lua-cjson, a page at a time", \
     f using 1:3 axes x1y2 smooth cumulative with lines lw 2 lc rgb plain notitle
unset label 1
unset multiplot
unset xlabel
unset y2label
unset y2tics
set y2range [*:*]

# ===== cross-process: one shared limit, four processes =====
f = dir . "/cross_process.dat"
set xrange [*:*]
set yrange [*:*]
stats f using ($2 > 0 ? $1 : NaN) name "SHARED" nooutput
stats f using (($3 + $4) > 0 ? $1 : NaN) name "PRIVATE" nooutput
stats f using 4 name "REFUSED" nooutput
set output dir . "/cross_process.png"
set multiplot layout 2,1 title "Four processes, 25 requests each, one practice's 10 per second (mock latency 0)\nrequests arriving at the mock per 100 ms, from the common start"
set xrange [0:ceil(PRIVATE_max) + 1]
set yrange [0:16]
set ytics 0,5,15
set ylabel "arrivals / 100 ms"
set key inside top right box opaque
set title sprintf("limit shared in a file (shared_limit = path): 100 requests in %.1f s, no 429", SHARED_max + 0.1)
plot f using ($1 + 0.05):2 with boxes lc rgb ours title "answered"
set xlabel "seconds"
set title sprintf("a private limiter each: %d refused with 429 (and retried), the last answered at %.1f s", REFUSED_sum, PRIVATE_max + 0.1)
plot f using ($1 + 0.05):($3 + $4) with boxes lc rgb refused title "429 Too Many Requests", \
     f using ($1 + 0.05):3 with boxes lc rgb plain title "answered"
unset title
unset multiplot
unset xlabel

# ===== multi-tenant: CPU against practices =====
f = dir . "/multi_tenant.dat"
set output dir . "/multi_tenant.png"
set title "One process driving N practices, each at its own 10 per second (cp.locations:list{})\nCPU per wall second; filled points: every iteration on time, no 429; hollow: some late (2 cores for both)"
set xlabel "practices driven by one lua-coreplus process"
set ylabel "cores (CPU seconds per second)"
set xrange [0:*]
set yrange [0:1.2]
set ytics 0,0.2,1.2
set key default
set key inside top left box opaque
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "#888888"
set label 2 "one core" at graph 0.01, first 1.03
plot f using 1:2 with lines lw 2 lc rgb ours title "lua-coreplus process (client side)", \
     f using 1:(($5 + $6) == 0 ? $2 : NaN) with points pt 7 ps 1.3 lc rgb ours notitle, \
     f using 1:(($5 + $6) > 0 ? $2 : NaN) with points pt 6 ps 1.3 lc rgb ours notitle, \
     f using 1:3 with lines lw 2 dt 3 lc rgb plain title "the mock server (nginx worker)", \
     f using 1:(($5 + $6) == 0 ? $3 : NaN) with points pt 7 ps 1.3 lc rgb plain notitle, \
     f using 1:(($5 + $6) > 0 ? $3 : NaN) with points pt 6 ps 1.3 lc rgb plain notitle
unset arrow 1
unset label 2

# ===== Redis fleet: a failover under load =====
# redis_fleet.dat: seconds, then answered and 429 per second (from 250 ms
# bins) for the Cluster (a master killed at 3 s) and Sentinel (the master
# killed at 3 s) runs of bench/redis_fleet.lua
f = dir . "/redis_fleet.dat"
if (system("test -s " . f . " && echo y") eq "y") {
  set output dir . "/redis_fleet.png"
  set multiplot layout 2,1 title "A fleet through one Redis (bench/redis_fleet.lua): a failover at 3 s\nrequests per second at the mock, all practices; 429s stacked on top (on_redis_error = \"local\": each process keeps to its share)"
  set xrange [0:8]
  set yrange [0:*]
  set ytics auto
  set xlabel ""
  set ylabel "requests / s"
  set style fill solid 0.85 noborder
  set boxwidth 0.2
  set key inside top right box opaque
  set title "Cluster: the master of a third of the practices killed"
  plot f using ($1 + 0.125):2 with boxes lc rgb refused title "429", \
       f using ($1 + 0.125):($2 - $3) with boxes lc rgb ours title "answered"
  set xlabel "seconds"
  set title "Sentinel: the master killed"
  plot f using ($1 + 0.125):4 with boxes lc rgb refused title "429", \
       f using ($1 + 0.125):($4 - $5) with boxes lc rgb ours title "answered"
  unset title
  unset multiplot
}
