# gnuplot: bench/out/concurrency.dat -> bench/throughput.png (see bench/plot.sh)
# columns of concurrency.dat (bench/concurrency.lua): concurrency calls seconds calls_per_s ideal_calls_per_s
set terminal pngcairo size 800,480 font ",11" noenhanced
set output "bench/throughput.png"
set title "featurebase-lua: calls per second against concurrency (HTTPS/HTTP2, server answers after 50 ms)"
set xlabel "concurrency (calls in flight)"
set ylabel "calls per second"
set logscale x 2
set grid
set key left top
set datafile commentschars "#"
plot "bench/out/concurrency.dat" using 1:4 with linespoints lw 2 pt 7 title "measured", \
     "" using 1:($1 / 0.05) with lines dt 2 title "ideal: concurrency / 50 ms"
