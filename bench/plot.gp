# Latency against delivered load, drawn by bench/compare:
#   gnuplot -e "datafile='results/X-sweep.dat'; outfile='results/latency.png'; npeers=N" bench/plot.gp
# datafile: one block per peer (its label in quotes on the first line), blocks
# separated by two blank lines; columns: target delivered/s p50_ms p99_ms.
set terminal pngcairo size 1400,600 font "DejaVu Sans,11"
set output outfile
set multiplot layout 1,2 title "Fan-out to 10,000 subscribers on one channel: latency against delivered load (log scales)"
set logscale xy
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set xlabel "deliveries per second"
set ylabel "latency (ms)"
set format x "%.0s%c"
set key top left box opaque
set style data linespoints
set title "p50"
plot for [i=0:npeers-1] datafile index i using 2:3 title columnheader(1) lw 2 pt 7 ps 1.2
set title "p99"
plot for [i=0:npeers-1] datafile index i using 2:4 title columnheader(1) lw 2 pt 7 ps 1.2
unset multiplot
