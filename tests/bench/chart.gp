# tests/bench/chart.gp: the chart of make bench (run.sh passes dat, out,
# stamp and cost with -e). Left: each route's throughput as a fraction
# of its ceiling, the target marked; right: each fast route's p99 alone
# and during the login flood.
set terminal svg size 1200,520 dynamic enhanced font "sans,12" background rgb "white"
set output out
set multiplot layout 1,2 title sprintf("latch make bench, %s (bcrypt cost %s)", stamp, cost) font ",14"

set style fill solid 0.8 border -1
set grid ytics
set key top right
set xtics nomirror
set ytics nomirror

set title "Throughput against its ceiling (same run; labels: ratio, latch / ceiling)"
set ylabel "latch req/s ÷ ceiling req/s"
set yrange [0:1.5]
set xrange [-0.6:3.6]
set bmargin 4
set boxwidth 0.6
set xtics noenhanced
plot dat index 0 using 0:2:xtic(sprintf("%s\nvs %s", strcol(1), strcol(6))) \
         with boxes lc rgb "#4477aa" title "latch / ceiling", \
     dat index 0 using 0:5 with points pt 9 ps 2 lc rgb "#cc3311" title "target (at least)", \
     dat index 0 using 0:(($2 > $5 ? $2 : $5) + 0.1):(sprintf("%.2f\n%s / %s req/s", $2, strcol(3), strcol(4))) \
         with labels font ",10" noenhanced notitle

set title "p99 latency, 4 connections: alone vs during the login flood"
set ylabel "p99 latency (ms, log scale)"
set logscale y
set yrange [*:*]
set autoscale y
set xrange [-0.6:2.6]
set boxwidth 0.35
plot dat index 1 using ($0 - 0.18):2:xtic(1) with boxes lc rgb "#228833" title "alone", \
     dat index 1 using ($0 + 0.18):3 with boxes lc rgb "#ee6677" title "during the flood", \
     dat index 1 using ($0 - 0.18):($2 * 1.15):(sprintf("%.1f", $2)) with labels font ",10" notitle, \
     dat index 1 using ($0 + 0.18):($3 * 1.15):4 with labels font ",10" noenhanced notitle
unset multiplot
