"""The catalog: menus (service navigation), content providers, products and packages."""
