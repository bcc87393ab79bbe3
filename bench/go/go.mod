module channel-registry-bench/go-mutex-map

go 1.19
