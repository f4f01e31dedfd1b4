module github.com/overcast-cloud/overcast

go 1.26
