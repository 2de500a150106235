// Command e2e is the orbital service. This placeholder is replaced as the service lands.
package main

import "fmt"

func main() {
	fmt.Println("orbital e2e: the service is being assembled; run `make test` meanwhile")
}
