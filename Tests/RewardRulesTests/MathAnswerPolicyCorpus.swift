// Hand-labelled pairs for the final-answer phrasings and the answer policy, as data: one case a
// line, expected<TAB>numeric_tolerance<TAB>gold<TAB>completion ("-": the task set sets none;
// "⏎" in a completion is a newline). MathAnswerPolicyTests reads and checks every line.
//
// The labels are what a Minerva-style grader says (the last \boxed{}, else "The final answer
// is ...", normalised, then compared exactly), with two deliberate choices where graders
// differ: a hedge ("1/2 or 1/3") is a list and never equals one value, and an exact gold
// (a fraction, a radical, pi) needs an exact answer. math-verify agrees on the irrationals
// (3.14159 is not pi) but rounds a decimal to 6 places before comparing it with a rational,
// so it would accept 0.142857 for 1/7; here only a task set's numeric_tolerance does.

enum MathAnswerPolicyCorpus {
    static let text = #"""
        # --- a closing "the result is ..." sentence
        1	-	1234	Adding the three parts, the result is 1,234.
        1	-	1234	So the result is $1{,}234$.
        1	-	1234	the result is 1234
        1	-	7	First the result is 5. After fixing the sign, the result is 7.
        0	-	5	First the result is 5. After fixing the sign, the result is 7.
        0	-	1234	Adding the three parts, the result is 1,243.
        no_answer	-	42	The result is about 42 or so.
        no_answer	-	42	The result is 42.⏎Next we check whether that is plausible.
        no_answer	-	42	The result is that the numbers agree.
        1	-	6	The answer is 6. As a check, the result is 5.
        # --- the Minerva / MATH evaluation phrasing
        1	-	45	Final Answer: The final answer is $\$45$. I hope it is correct.
        1	-	\$45	Final Answer: The final answer is $\$45$. I hope it is correct.
        1	-	45	Final Answer: The final answer is $45$. I hope it is correct.
        1	-	\frac{1}{2}	Final Answer: The final answer is $\frac{1}{2}$. I hope it is correct.
        1	-	2.5	Final Answer: The final answer is $\$2.50$. I hope it is correct.
        0	-	54	Final Answer: The final answer is $\$45$. I hope it is correct.
        0	-	\frac{1}{3}	Final Answer: The final answer is $\frac{1}{2}$. I hope it is correct.
        # --- Markdown "final answer" headings
        1	-	0.25	**Final answer:** 0.25
        1	-	\frac{1}{4}	**Final answer:** 0.25
        1	-	0.25	**Final Answer**: $0.25$
        1	-	12	We add them.⏎⏎**Final answer:** 12
        0	-	0.5	**Final answer:** 0.25
        no_answer	-	12	**Final answer** will follow once I check it.
        # --- braceless fraction arguments (TeX takes one digit per argument)
        1	-	\frac{1}{2}	So the answer is $\boxed{\dfrac12}$.
        1	-	\frac{1}{2}	So the answer is $\boxed{\frac12}$.
        1	-	\frac{1}{2}	So the answer is $\boxed{\frac1{2}}$.
        1	-	\frac{1}{2}	So the answer is $\boxed{\tfrac 12}$.
        1	-	\frac{3}{4}	So the answer is $\boxed{\dfrac34}$.
        1	-	0.5	So the answer is $\boxed{\dfrac12}$.
        1	-	3.5	So the answer is $\boxed{\frac12+3}$.
        1	-	\dfrac12	So the answer is $\boxed{\frac{1}{2}}$.
        0	-	\frac{1}{2}	So the answer is $\boxed{\dfrac21}$.
        0	-	\frac{1}{12}	So the answer is $\boxed{\dfrac12}$.
        # --- hedges are lists: never one value
        0	-	\frac{1}{2}	The answer is $\frac{1}{2}$ or $\frac{1}{3}$ or $\frac{1}{4}$, I'm not sure which.
        0	-	\frac{1}{4}	The answer is $\frac{1}{2}$ or $\frac{1}{3}$ or $\frac{1}{4}$, I'm not sure which.
        0	-	\frac{1}{2}	The answer is 1/2 or 1/3, I'm not sure which.
        0	-	3	The answer is $2$, or maybe $3$.
        0	-	2	So it is \boxed{2} or \boxed{3}.
        0	-	3	So it is \boxed{2} or \boxed{3}.
        0	-	3	So it is $\boxed{2}$, $\boxed{3}$.
        0	-	3	So it is \boxed{2} \text{ or } \boxed{3}.
        1	-	2, 3	The roots are \boxed{2} and \boxed{3}.
        1	-	\frac{1}{2}	The answer is $\frac{1}{2}$, since the halves match.
        1	-	\frac{1}{2}	The answer is $\frac{1}{2}$. Or so I believe.
        1	-	3	I first thought \boxed{2}, but that is wrong: it is \boxed{3}.
        # --- an exact gold needs an exact answer
        0	-	\frac{1}{7}	So the answer is $\boxed{0.142857}$.
        0	-	\frac{1}{3}	So the answer is $\boxed{0.3333333}$.
        0	-	\pi	So the answer is $\boxed{3.14159}$.
        0	-	\sqrt{2}	So the answer is $\boxed{1.41421356}$.
        0	-	\pi	So the answer is $\boxed{3.14159265359}$.
        0	-	\frac{2}{3}	So the answer is $\boxed{0.67}$.
        0	-	\frac{1}{7}	The answer is 0.142857.
        1	-	\frac{1}{4}	So the answer is $\boxed{0.25}$.
        1	-	\frac{5}{2}	So the answer is $\boxed{2.50}$.
        1	-	3	So the answer is $\boxed{3.0}$.
        1	-	\frac{1}{8}	So the answer is $\boxed{12.5\%}$.
        1	-	\sin(\pi/6)	So the answer is $\boxed{0.5}$.
        1	-	\frac{\pi}{2}	So the answer is $\boxed{0.5\pi}$.
        1	-	\frac{\pi}{2}	So the answer is $\boxed{\frac{1}{2}\pi}$.
        1	-	\frac{x}{3}	So the answer is $\boxed{\frac{1}{3}x}$.
        0	-	\frac{x}{3}	So the answer is $\boxed{0.333333x}$.
        # --- a decimal gold keeps the rule's relative tolerance (1e-6)
        1	-	0.3333333	So the answer is $\boxed{\frac{1}{3}}$.
        1	-	0.1428571	So the answer is $\boxed{\frac17}$.
        1	-	3.14159	So the answer is $\boxed{3.1415900001}$.
        0	-	3.14	So the answer is $\boxed{\pi}$.
        0	-	0.33	So the answer is $\boxed{\frac{1}{3}}$.
        # --- a task set's numeric_tolerance, for every gold
        1	1e-5	\frac{1}{7}	So the answer is $\boxed{0.142857}$.
        1	1e-5	\pi	So the answer is $\boxed{3.14159}$.
        1	1e-5	\sqrt{2}	So the answer is $\boxed{1.41421356}$.
        0	1e-7	\pi	So the answer is $\boxed{3.14159}$.
        0	1e-5	\frac{1}{7}	So the answer is $\boxed{0.1428}$.
        1	1e-2	1000	So the answer is $\boxed{1005}$.
        0	1e-3	1000	So the answer is $\boxed{1005}$.
        1	0	\frac{1}{4}	So the answer is $\boxed{0.25}$.
        0	0	\frac{1}{3}	So the answer is $\boxed{0.3333333}$.
        0	1e-2	\frac{1}{2}	The answer is $\frac{1}{2}$ or $\frac{1}{3}$, I'm not sure which.
        """#
}
