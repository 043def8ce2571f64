# plot.gp: the PNG of a bench/compare.sh run. compare.sh calls
#   gnuplot -e "datafile='...'; outfile='...png'; title='...'" bench/plot.gp
# with a comma-separated data file, one row per range size and load generator:
#   label, then for each metric (server cpu-s/GB, server cpu-us/req, client Gb/s, client p99 ms)
#   cachebox median,min,max and nginx median,min,max ("NaN" where a side did not run);
# sides='nginx' or 'cachebox' plots one side only (compare.sh --only).
# Bars are medians, error bars span min-max over the runs; four panels, one per metric.

if (!exists("datafile")) datafile = 'plot.csv'
if (!exists("outfile")) outfile = 'plot.png'
if (!exists("title")) title = 'cachebox vs nginx'
if (!exists("sides")) sides = 'both'

set terminal pngcairo size 1600,1000 font ",10"
set output outfile
set datafile separator ","
set datafile missing "NaN"

set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.6 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xtics rotate by -30 noenhanced
set yrange [0:*]

# column of metric m (0..3) for server s (0 cachebox, 1 nginx): median, then min and max
col(m, s) = 2 + (m * 2 + s) * 3
cb(m) = sprintf("datafile using %d:%d:%d:xtic(1) title 'cachebox' lc rgb '#1f77b4'", \
	col(m, 0), col(m, 0) + 1, col(m, 0) + 2)
ng(m, xt) = sprintf("datafile using %d:%d:%d%s title 'nginx' lc rgb '#2ca02c'", \
	col(m, 1), col(m, 1) + 1, col(m, 1) + 2, xt ? ":xtic(1)" : "")
# the plot clauses for metric m, leaving out a side that did not run (--only)
clauses(m) = sides eq "nginx" ? ng(m, 1) : sides eq "cachebox" ? cb(m) : cb(m) . ", " . ng(m, 0)

set multiplot layout 2,2 title title noenhanced

set title "server CPU-seconds per GB served (lower is better)"
eval "plot " . clauses(0)

set title "server CPU-microseconds per request (lower is better, log scale)"
set logscale y
set yrange [*:*]
eval "plot " . clauses(1)
unset logscale y
set yrange [0:*]

set title "client Gb/s (loopback: often limited by the client)"
eval "plot " . clauses(2)

set title "client p99 latency, ms (log scale)"
set logscale y
set yrange [*:*]
eval "plot " . clauses(3)

unset multiplot
