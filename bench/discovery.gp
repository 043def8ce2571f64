# discovery.gp: the plot of bench/discovery.sh. Left: median replies per server core-second per
# case, by CPU time and by busy time (log scale); right: median query->offer latency p50 and p99, loaded and idle.
# Run as: gnuplot -e "csv='X.plot.csv'; png='X.png'" bench/discovery.gp
set datafile separator ","
set terminal pngcairo size 1200,520 font ",10" noenhanced
set output png
set multiplot layout 1,2 title "cachebox-dataplane: discovery responder by backend"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.8
set key outside bottom center horizontal
set style histogram clustered gap 1
set grid ytics
set logscale y
set ylabel "replies per server core-second"
set xtics rotate by -20
set title "throughput (median of loaded runs)"
plot csv using 2:xtic(1) skip 1 title "replies / core-s (CPU time)" lc rgb "#3060a0", \
     '' using 8 skip 1 title "replies / busy core-s" lc rgb "#80a0e0"
set ylabel "microseconds"
set title "query -> offer latency (median)"
plot csv using 4:xtic(1) skip 1 title "loaded p50" lc rgb "#60a030", \
     '' using 5 skip 1 title "loaded p99" lc rgb "#306010", \
     '' using 6 skip 1 title "idle p50" lc rgb "#e0a030", \
     '' using 7 skip 1 title "idle p99" lc rgb "#a06010"
unset multiplot
