# Throughput against concurrency (bench/out/concurrency.dat from bench/concurrency.lua).
# gnuplot bench/concurrency.gp  ->  bench/out/concurrency.png
set terminal pngcairo size 800,500 noenhanced
set output "bench/out/concurrency.png"
set title "featurebase async engine: calls/s against a server answering after 50 ms"
set xlabel "concurrency (calls in flight)"
set ylabel "calls per second"
set logscale xy 2
set key top left
set grid
plot "bench/out/concurrency.dat" using 1:5 with lines dashtype 2 title "ideal (concurrency / 50 ms)", \
     "" using 1:4 with linespoints pointtype 7 title "measured"
