// The math rule's corpus, as data: one case a line, expected<TAB>gold<TAB>answer.
// Kept in a Swift file (a raw string) so the test target needs no resources.
// Add a line here to pin a new case; MathCorpusTests reads and checks every one.

enum MathCorpus {
    static let text = #"""
        # The math rule's corpus: expected<TAB>gold<TAB>answer.
        # expected: 1 (equivalent), 0 (not), or a reason (too_complex, no_answer).
        # A decimal gold allows the default relative tolerance (1e-6); an exact gold needs an exact answer.
        # The answer is boxed inside a short completion ("... $\boxed{ANSWER}$."),
        # unless it starts with "raw:", in which case it is the whole completion ("⏎" is a newline).
        # --- integers, separators, signs
        1	42	42
        1	42	+42
        1	-42	-42
        0	42	-42
        0	42	43
        0	42	4.2
        1	42	42.0
        1	42	042
        1	1000	1,000
        1	1000	1\,000
        1	1000	1{,}000
        1	1000	1 000
        1	1,000	1000
        1	1234567	1,234,567
        1	1 234 567	1234567
        0	1234567	1,234,568
        1	-5	- 5
        1	-5	-(5)
        1	0	-0
        0	100	10
        0	1000	100
        1	#### 72	72
        1	#### 1,080	1080
        0	#### 72	27
        1	7	\left(7\right)
        0	7	7a
        1	12	12 apples
        1	5	5 \text{ cm}
        1	5	5\text{cm}
        1	5	5 \mbox{cm}
        1	5	5\ \text{square units}
        1	20	\$20
        1	20	20 dollars
        1	3	\textbf{3}
        0	3	\text{three}
        1	90	90^\circ
        1	90	90^{\circ}
        1	90^\circ	90
        1	90	90°
        0	90	180^\circ
        1	1000000	1,000,000
        0	1000000	1,000,001
        1	-3	\!-3
        1	17	17.
        # --- decimals
        1	0.5	0.5
        1	0.5	.5
        1	0.5	0.50
        1	0.5	\frac{1}{2}
        1	\frac{1}{2}	0.5
        0	0.5	0.51
        0	0.5	0.05
        1	3.14	3.14
        0	3.14	3.15
        1	2.5	2.50
        1	2.5	\frac{5}{2}
        1	0.333333333	\frac{1}{3}
        0	0.33	\frac{1}{3}
        0	\frac{1}{3}	0.3333333333
        0	\frac{1}{3}	0.333
        1	1.0000001	1
        0	1.001	1
        1	-0.25	-\frac{1}{4}
        0	-0.25	\frac{1}{4}
        1	0.1	\frac{1}{10}
        1	12.34	12.340
        0	12.34	12.43
        1	100.5	100.50
        1	1,234.5	1234.5
        # --- fractions
        1	\frac{1}{2}	\frac{1}{2}
        1	\frac{1}{2}	\dfrac{1}{2}
        1	\frac{1}{2}	\tfrac{1}{2}
        1	\frac{1}{2}	\frac12
        1	\frac{1}{2}	1/2
        1	\frac{1}{2}	\frac{2}{4}
        1	\frac{1}{2}	\frac{50}{100}
        0	\frac{1}{2}	\frac{2}{1}
        0	\frac{1}{2}	\frac{1}{3}
        1	\frac{3}{4}	3/4
        1	\frac{3}{4}	\frac{6}{8}
        1	-\frac{3}{4}	\frac{-3}{4}
        1	-\frac{3}{4}	\frac{3}{-4}
        1	-\frac{3}{4}	-3/4
        0	-\frac{3}{4}	3/4
        1	\frac{7}{3}	2\frac{1}{3}
        1	\frac{10}{3}	\frac{10}{3}
        0	\frac{10}{3}	\frac{10}{4}
        1	\frac{1}{2^{60}}	\frac{1}{2^{60}}
        0	\frac{1}{2^{60}}	\frac{1}{2^{61}}
        0	1/2^60	1/2^61
        1	2^{-60}	\frac{1}{2^{60}}
        0	2^{-60}	2^{-61}
        1	\frac{1}{1152921504606846976}	2^{-60}
        0	1+2^{-60}	1
        0	1-2^{-100}	1
        1	\frac{123456789123456789}{987654321987654321}	\frac{13717421}{109739369}
        0	\frac{123456789123456789}{987654321987654321}	\frac{13717421}{109739368}
        1	\frac{2}{3}	\frac{4}{6}
        1	\frac{22}{7}	\frac{44}{14}
        0	\frac{22}{7}	\pi
        1	\frac{5}{1}	5
        1	0	\frac{0}{5}
        # --- percentages
        1	50\%	50\%
        1	50\%	50
        1	50\%	0.5
        1	50	50\%
        1	0.5	50\%
        0	50\%	5
        0	50\%	0.05
        0	50\%	51\%
        1	12.5\%	12.5
        1	12.5\%	\frac{1}{8}
        1	25\%	25 \%
        0	25\%	75\%
        1	100\%	1
        # --- scientific notation
        1	1000	1e3
        1	1000	1E3
        1	1000	1\times10^{3}
        1	1000	1 \times 10^3
        1	1000	10^3
        1	0.001	1e-3
        1	0.001	10^{-3}
        1	2.5\times10^{-4}	0.00025
        1	2.5\times10^{-4}	2.5e-4
        0	2.5\times10^{-4}	2.5e-5
        1	6.02\times 10^{23}	6.02e23
        0	6.02\times 10^{23}	6.02e22
        1	3 \cdot 10^{8}	300000000
        0	3 \cdot 10^{8}	30000000
        # --- LaTeX noise
        1	7	$7$
        1	7	\left. 7 \right.
        1	\frac{1}{2}	\left(\frac{1}{2}\right)
        1	10	\displaystyle 10
        1	10	\; 10 \;
        1	10	\quad 10
        1	\frac{1}{2}	\displaystyle\frac{1}{2}
        1	4	\mathbf{4}
        1	4	\textbf{4}
        1	4	{4}
        1	4	{{4}}
        1	4	\boxed{4}
        1	\boxed{4}	4
        1	The answer is $\boxed{4}$.	4
        0	\boxed{4}	5
        1	6	6.
        1	6	\(6\)
        1	6	~6
        # --- radicals and pi
        1	\sqrt{2}	\sqrt{2}
        1	\sqrt{2}	\sqrt2
        1	\sqrt{2}	2^{1/2}
        1	\sqrt{2}	\frac{2}{\sqrt{2}}
        1	\sqrt{2}	\frac{\sqrt{8}}{2}
        0	\sqrt{2}	\sqrt{3}
        0	\sqrt{2}	1.41
        0	\sqrt{2}	1.41421356237
        1	2\sqrt{2}	\sqrt{8}
        1	2\sqrt{2}	2 \sqrt 2
        0	2\sqrt{2}	\sqrt{2}
        1	\sqrt{4}	2
        1	\sqrt[3]{8}	2
        1	\sqrt[3]{2}	2^{1/3}
        0	\sqrt[3]{2}	\sqrt{2}
        1	\frac{\sqrt{3}}{2}	\frac{1}{2}\sqrt{3}
        1	\frac{\sqrt{3}}{2}	\frac{3}{2\sqrt{3}}
        0	\frac{\sqrt{3}}{2}	\frac{\sqrt{2}}{2}
        1	3\sqrt{5}	\sqrt{45}
        1	5+2\sqrt{6}	(\sqrt{2}+\sqrt{3})^2
        0	5+2\sqrt{6}	5+\sqrt{6}
        1	\pi	\pi
        1	2\pi	2 \pi
        1	2\pi	\pi \cdot 2
        0	2\pi	\pi
        0	\pi	3.14
        0	\pi	3.14159265359
        0	\pi	\frac{22}{7}
        1	\frac{\pi}{4}	\frac{1}{4}\pi
        1	4\pi	\frac{8\pi}{2}
        0	\pi^2	2\pi
        1	\frac{\pi}{2^{60}}	\frac{2\pi}{2^{61}}
        0	\frac{\pi}{2^{60}}	\frac{\pi}{2^{61}}
        1	6-2\sqrt{5}	(\sqrt{5}-1)^2
        1	\sqrt{12}	2\sqrt{3}
        1	-\sqrt{3}	-1\cdot\sqrt{3}
        0	-\sqrt{3}	\sqrt{3}
        1	e	e
        1	e^2	e \cdot e
        1	\ln 2	\ln(2)
        1	\log_2 8	3
        1	\sin(\pi/6)	\frac12
        1	100\pi	100 \pi
        # --- tuples (ordered)
        1	(1,2)	(1,2)
        1	(1,2)	(1, 2)
        1	(1,2)	\left(1,2\right)
        0	(1,2)	(2,1)
        0	(1,2)	(1,2,3)
        1	(1,-2)	(1, -2)
        1	(\frac{1}{2},3)	(0.5, 3)
        0	(1,2)	[1,2]
        1	(3,4,5)	(3,4,5)
        0	(3,4,5)	(5,4,3)
        1	(2,\sqrt{3})	(2, \sqrt{3})
        0	(1,2)	x=1, y=2
        0	(1,2)	1
        1	(0,0)	(0, 0)
        1	(10,20)	(10,20)
        0	(10, 20)	(10,200)
        # --- sets (unordered)
        1	\{1,2,3\}	\{1,2,3\}
        1	\{1,2,3\}	\{3,2,1\}
        1	\{1,2,3\}	\left\{2, 3, 1\right\}
        0	\{1,2,3\}	\{1,2\}
        0	\{1,2,3\}	\{1,2,4\}
        1	\{1,2\}	1, 2
        1	\{1,2\}	2, 1
        1	1, 2	2, 1
        1	1,2	2,1
        1	-1, 2	2, -1
        0	-1, 2	1, 2
        1	\{3\}	3
        1	3	\{3\}
        1	x=2 or x=3	3, 2
        1	2, 3	x = 3 \text{ or } x = 2
        1	\pm 3	3, -3
        1	\pm 3	-3, 3
        0	\pm 3	3
        1	1 \pm \sqrt{2}	1+\sqrt{2}, 1-\sqrt{2}
        1	\{\frac{1}{2}, 2\}	\{2, 0.5\}
        0	\{1, 1, 2\}	\{1, 2\}
        1	\{a, b\}	\{b, a\}
        0	1, 2, 3	1, 2
        # --- intervals (brackets must match)
        1	[0,1]	[0,1]
        1	[0,1)	[0,1)
        0	[0,1)	[0,1]
        0	[0,1)	(0,1)
        0	(0,1]	[0,1)
        1	(0,1]	(0, 1]
        1	(-\infty, 2]	(-\infty,2]
        0	(-\infty, 2]	(-\infty,2)
        1	(-\infty, 2]	(-\infty, 2]
        1	[3, \infty)	[3,\infty)
        0	[3, \infty)	[3, -\infty)
        1	(-\infty, -1) \cup (1, \infty)	(1, \infty) \cup (-\infty, -1)
        1	(-\infty, -1) \cup (1, \infty)	(-\infty,-1)\cup(1,\infty)
        0	(-\infty, -1) \cup (1, \infty)	(-\infty, -1] \cup [1, \infty)
        1	[\frac{1}{2}, 3]	[0.5, 3]
        0	[\frac{1}{2}, 3]	[0.5, 4]
        1	(-2,5)	\left( -2, 5 \right)
        # --- equations: "x = 3" vs "3"
        1	3	x = 3
        1	x = 3	3
        1	x=3	x = 3
        0	x = 3	4
        1	y = 2x+3	2x + 3
        1	2x+3	y=3+2x
        1	-\frac{1}{2}	x=-\frac{1}{2}
        1	k = 5	5
        0	k = 5	k = 6
        1	[0,1]	x \in [0,1]
        0	[0,1]	x \in (0,1]
        1	3.14	x \approx 3.14
        1	3.14	\approx 3.14
        1	25	5 \text{ cm}^2 \cdot 5
        1	5	5 \text{ cm}^2
        1	5	5 \mathrm{m}^{2}
        1	5	5 cm^2
        1	1.5	1\frac{1}{2}
        1	-\frac{7}{3}	-2\frac{1}{3}
        1	\frac{x}{2}	\frac{1}{2}x
        1	5\%	5 percent
        1	\frac{\sqrt{2}}{2}	\sqrt{2}/2
        0	\frac{\sqrt{2}}{2}	-\frac{\sqrt{2}}{2}
        1	a=3, b=4	3, 4
        1	-5	−5
        1	6	2 × 3
        1	6	2·3
        1	2\pi	2π
        1	\sqrt{2}	√2
        0	\sqrt{2}	√3
        1	[1, \infty)	[1, ∞)
        1	1000	1 000
        # --- multiple choice
        1	B	B
        1	B	(B)
        1	(B)	B
        1	\text{(B)}	B
        1	B	\text{(B)}
        1	C	(C) 12
        1	C	C) 12
        0	C	D
        0	C	(D)
        0	C	12
        1	E	\textbf{(E)}
        0	A	AB
        0	(A)	A, B
        # --- algebraic expressions (random points)
        1	x^2+2x+1	(x+1)^2
        1	(x+1)^2	x^2 + 2x + 1
        0	x^2+2x+1	(x+1)^3
        0	x^2+2x+1	x^2+2x+2
        1	x^2-1	(x-1)(x+1)
        1	2x	x+x
        1	2x	2 \cdot x
        1	2x	x \times 2
        0	2x	x^2
        1	\frac{x}{2}	0.5x
        1	\frac{x^2-1}{x-1}	x+1
        1	a+b	b+a
        0	a+b	a-b
        1	ab	ba
        1	a^2b	b a^2
        1	\frac{1}{x}+\frac{1}{y}	\frac{x+y}{xy}
        0	\frac{1}{x}+\frac{1}{y}	\frac{2}{x+y}
        1	x^3-3x^2+3x-1	(x-1)^3
        1	\sqrt{x^2}	|x|
        1	3+2i	2i+3
        0	3+2i	3-2i
        1	(x+y)^2	x^2+2xy+y^2
        0	(x+y)^2	x^2+y^2
        1	2^{x+1}	2 \cdot 2^x
        1	e^{2x}	(e^x)^2
        0	x^{100}	x^{99}
        1	x^{100}	x^{99} x
        1	\frac{n(n+1)}{2}	\frac{n^2+n}{2}
        0	\frac{n(n+1)}{2}	\frac{n(n-1)}{2}
        1	\sin^2 x + \cos^2 x	1
        1	\ln(xy)	\ln x + \ln y
        1	4x^2-9	(2x-3)(2x+3)
        1	-x+1	1-x
        0	-x+1	x-1
        1	\frac{3x}{4}	\frac{3}{4}x
        1	x^{\frac{1}{2}}	\sqrt{x}
        1	\theta	\theta
        0	\alpha	\beta
        # --- factorials and binomials
        1	120	5!
        1	\binom{5}{2}	10
        0	\binom{5}{2}	20
        1	3628800	10!
        1	\frac{10!}{8!}	90
        # --- text answers
        1	\text{Monday}	Monday
        1	\text{Monday}	\text{monday}
        0	\text{Monday}	Tuesday
        1	\text{even}	\text{even}
        0	\text{even}	\text{odd}
        # --- extraction formats (raw completions)
        1	42	raw:Let me think. 6 times 7 is 42.⏎#### 42
        1	42	raw:<think>6*7</think><answer>42</answer>
        1	42	raw:<think>6*7</think><answer> $42$ </answer>
        1	42	raw:So the final answer is 42.
        1	42	raw:The answer is: 42
        1	42	raw:Therefore, the answer is $42$.
        1	42	raw:First I got \boxed{41}, but rechecking, it is \boxed{42}.
        0	42	raw:First I got \boxed{42}, but rechecking, it is \boxed{41}.
        1	\frac{1}{2}	raw:We obtain $\boxed{\frac{1}{2}}$ as required.
        1	\{1,2\}	raw:The roots are $\boxed{\{1, 2\}}$.
        1	(1,2)	raw:So the point is \boxed{\left(1, 2\right)}.
        1	\frac{a}{b}	raw:$\boxed{\frac{a}{b}}$
        1	6	raw:\fbox{6}
        1	6	raw:\boxed 6
        1	6	raw:The answer is \boxed{6}. Earlier I thought the answer is 5.
        1	6	raw:<answer>\boxed{6}</answer>
        no_answer	42	raw:I do not know.
        no_answer	42	raw:The result is about 42 or so.
        no_answer	42	raw:
        no_answer	42	raw:\boxed{}
        1	42	raw:the answer is 42⏎and that is all
        0	42	raw:The answer is 4.2.
        1	4.2	raw:The answer is 4.2.
        1	1080	raw:The total is 1,080 dollars.⏎#### 1,080
        1	18	raw:she makes 9 * 2 = $18 every day.⏎#### 18
        1	42	raw:**Final answer:** **42**
        1	42	raw:The answer is **42**.
        1	\frac{1}{2}	raw:The answer is $\frac{1}{2}$, since the halves match.
        0	\frac{1}{2}	raw:The answer is $\frac{1}{3}$, not $\frac{1}{2}$.
        1	42	raw:Final Answer: The final answer is $42$. I hope it is correct.
        1	1000.5	raw:#### $1,000.50
        # --- many candidates in the final slot never win
        0	3	1, 2, 3 or 4
        0	3	1,2,3,4
        0	3	3 or 4
        0	3	2 and 3
        0	3	\{1,2,3,4\}
        0	3	(1,2,3)
        0	3	raw:The answer is 1, 2, 3 or 4.
        0	3	raw:The answer is 3 or 4.
        0	B	raw:The answer is (A), (B) or (C).
        0	B	A, B, C, D
        0	x^2	x^2, x^3
        0	3	raw:<answer>1 2 3 4</answer>
        # --- hostile and bounded
        too_complex	1	9^{9^{9^9}}
        too_complex	1	9^{9^{9^{9^{9}}}}
        1	9^{9^{9^9}}	9^{9^{9^9}}
        too_complex	1	2^{100000}
        too_complex	1	10^{10^{10}}
        1	1	1^{10^{100}}
        1	0	0^{10^{100}}
        1	1	(-1)^{10^{100}}
        1	2^{1000}	2^{999} \cdot 2
        0	2^{1000}	2^{1000}+1
        0	2^{1000}+1	2^{1000}
        1	2^{8000}	2^{8000}
        too_complex	1	1000!
        too_complex	1	e^{10000}
        too_complex	1	1e99999
        too_complex	1	x^{10^{9}}
        too_complex	2^{8000}\pi	2^{7999}\pi
        too_complex	1	\sin(2^{8000})
        1	2^{8000}\cdot 3	3 \cdot 2^{8000}
        """#
}
