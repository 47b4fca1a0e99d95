enum ChainIndexPlaceholder {}
