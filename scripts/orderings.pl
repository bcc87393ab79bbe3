#!/usr/bin/perl
# The memory-ordering sites of src/ and their one-step weakenings, for
# scripts/weaken-orderings.sh.
#
#   perl scripts/orderings.pl list FILE...        one line per weakening:
#       SITE  FILE:LINE  KIND  FROM  TO
#   perl scripts/orderings.pl instrument FILE...  rewrites the files in place:
#       site N's `Ordering::X` becomes `crate::sync::weakened(N, Ordering::X)`
#       and its `fence(Ordering::X)` becomes `crate::sync::weakened_fence(N, Ordering::X)`
#
# A site is a non-comment `Ordering::{SeqCst,AcqRel,Acquire,Release}` outside
# the test modules at the end of a file. Its kind (load, store,
# read-modify-write, the failure ordering of a compare-exchange, fence) is
# read from the call that encloses it, and decides the ladder below: one step
# down, to an ordering the operation accepts (a weaker one that panics at run
# time would be a false "caught"). Sites are numbered across the files in the
# order given, so `list` and `instrument` agree.
use strict;
use warnings;

my %ladder = (
    'load'        => { SeqCst => ['Acquire'], Acquire => ['Relaxed'] },
    'cas-failure' => { SeqCst => ['Acquire'], Acquire => ['Relaxed'] },
    'store'       => { SeqCst => ['Release'], Release => ['Relaxed'] },
    'rmw'         => { SeqCst => ['AcqRel'], AcqRel => ['Acquire', 'Release'],
                       Acquire => ['Relaxed'], Release => ['Relaxed'] },
    'fence'       => { SeqCst => ['AcqRel', 'removed'], AcqRel => ['Acquire', 'Release', 'removed'],
                       Acquire => ['removed'], Release => ['removed'] },
);

my $mode = shift @ARGV // '';
die "usage: orderings.pl list|instrument FILE...\n" unless $mode eq 'list' || $mode eq 'instrument';
my $site = 0;
for my $file (@ARGV) {
    open my $in, '<', $file or die "$file: $!\n";
    my $src = do { local $/; <$in> };
    close $in;
    my $end = $src =~ /^#\[cfg\(all\(test/m ? $-[0] : length $src;
    my @hits;
    while ($src =~ /Ordering::(SeqCst|AcqRel|Acquire|Release)\b/g) {
        push @hits, [$1, $-[0], $-[1]];
    }
    my @edits;    # [offset, length, replacement], applied from the end
    for my $hit (@hits) {
        my ($from, $start, $pos) = @$hit;
        last if $pos >= $end;
        my $bol = rindex($src, "\n", $pos) + 1;
        next if substr($src, $bol, $pos - $bol) =~ m{//};
        my $line = (substr($src, 0, $pos) =~ tr/\n//) + 1;
        # Walk back to the `(` of the call that encloses the ordering.
        my ($depth, $i) = (0, $pos - 1);
        for (; $i >= 0; $i--) {
            my $c = substr($src, $i, 1);
            if ($c eq ')') { $depth++ }
            elsif ($c eq '(') { last if $depth == 0; $depth-- }
            elsif (($c eq '{' || $c eq ';') && $depth == 0) { $i = -1; last }
        }
        my ($kind, $name, $callpos) = ('?', '', -1);
        if ($i >= 0) {
            my $head = substr($src, 0, $i);
            ($name, $callpos) = ($2, $-[1]) if $head =~ /((?:[\w:]*::)?\.?(\w+))\s*$/;
            # Which argument of the call the ordering is: top-level commas
            # before it.
            my ($before, $d) = (0, 0);
            for my $c (split //, substr($src, $i + 1, $start - $i - 1)) {
                if ($c eq '(') { $d++ } elsif ($c eq ')') { $d-- } elsif ($c eq ',' && $d == 0) { $before++ }
            }
            if ($name eq 'fence') { $kind = 'fence' }
            elsif ($name eq 'load') { $kind = 'load' }
            elsif ($name eq 'store') { $kind = 'store' }
            elsif ($name =~ /^compare_exchange/) { $kind = $before == 2 ? 'rmw' : 'cas-failure' }
            elsif ($name =~ /^(swap|fetch_\w+)$/) { $kind = 'rmw' }
        } elsif (substr($src, 0, $pos) =~ /.*\blet (\w+) =/s) {
            # `let NAME = if .. { Ordering::X } ..;` used as `.op(.., NAME)`.
            my $var = $1;
            if (substr($src, $pos) =~ /\.(\w+)\(([^;]*?)\b\Q$var\E\b/s) {
                my ($call, $args) = ($1, $2);
                my $commas = () = $args =~ /,/g;
                if ($call eq 'load' || $call eq 'store') { $kind = $call }
                elsif ($call =~ /^compare_exchange/) { $kind = $commas == 2 ? 'rmw' : 'cas-failure' }
                elsif ($call =~ /^(swap|fetch_\w+)$/) { $kind = 'rmw' }
            }
        }
        die "$file:$line: cannot tell which operation takes this ordering\n" unless $ladder{$kind};
        $site++;
        if ($mode eq 'list') {
            print join("\t", $site, "$file:$line", $kind, $from, $_), "\n"
                for @{ $ladder{$kind}{$from} || [] };
        } elsif ($kind eq 'fence') {
            push @edits, [$callpos, $start - $callpos, "crate::sync::weakened_fence($site, "];
        } else {
            push @edits, [$start, 0, "crate::sync::weakened($site, "];
            push @edits, [$pos + length $from, 0, ")"];
        }
    }
    next unless $mode eq 'instrument';
    for my $edit (sort { $b->[0] <=> $a->[0] } @edits) {
        substr($src, $edit->[0], $edit->[1]) = $edit->[2];
    }
    open my $out, '>', $file or die "$file: $!\n";
    print $out $src;
    close $out;
}
