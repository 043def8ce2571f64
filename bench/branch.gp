# branch.gp: the plot of bench/branch.sh. Left: N clients fetching one object at once, straight
# from the origin, through a cold box and through a warm box: time until the last client finished
# and the per-client median (log scale). Middle: the bytes that crossed the WAN, as a multiple of
# the object's size. Right: one client's cold miss through the box against curl and aria2c -x8
# straight from the origin, in Mbit/s, with the WAN link's rate drawn across.
# Run as: gnuplot -e "stem='bench/results/branch-X'; png='X.png'; wan=200; title='...'" bench/branch.gp
set datafile separator ","
set terminal pngcairo size 1500,520 font ",10" noenhanced
set output png
set multiplot layout 1,3 title title
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set key outside bottom center horizontal
set grid ytics
set title "N clients at once"
set ylabel "seconds (log)"
set logscale y
plot stem.".plot-many.csv" using 2:xtic(1) skip 1 title "last client done" lc rgb "#3060a0", \
     '' using 3 skip 1 title "per-client median" lc rgb "#80a0e0"
unset logscale y
set title "bytes across the WAN"
set ylabel "WAN bytes / object size"
set yrange [0:*]
plot stem.".plot-many.csv" using 4:xtic(1) skip 1 title "N clients" lc rgb "#a06010", \
     1.05 with lines dt 2 lc rgb "#c00000" title "target with a box (1.05)"
set title "cold miss, one client"
set ylabel "Mbit/s (payload)"
set yrange [0:wan * 1.15]
plot stem.".plot-coldmiss.csv" using 2:xtic(1) skip 1 title "one download" lc rgb "#60a030", \
     wan with lines dt 2 lc rgb "#c00000" title "WAN link", \
     0.9 * wan with lines dt 3 lc rgb "#808080" title "0.9x WAN"
unset multiplot
