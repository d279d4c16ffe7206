// Command htpasswd prints an htpasswd line (bcrypt) for the end-to-end
// environment's registry with authentication:
//
//	htpasswd USER < password-file
package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: htpasswd USER < password-file")
	}
	pass, err := io.ReadAll(os.Stdin)
	if err != nil {
		log.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(strings.TrimSpace(string(pass))), bcrypt.DefaultCost)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s:%s\n", os.Args[1], hash)
}
